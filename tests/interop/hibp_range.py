#!/usr/bin/env python3
"""Queries Haechi's exposure range API with two independent Have I Been Pwned client
libraries, pointed at the local server by changing only their base URL:

- pyhibp (uses requests; sends Add-Padding when asked; splits the body on whitespace), and
- pwnedpasswords (urllib; splits the body on "\\r\\n" exactly, so a trailing newline, LF line
  endings or an empty body break it).

Usage: hibp_range.py BASE_URL --exposed ID... --absent ID...
where each ID is a normalised identifier (lower-case e-mail, or phone digits 010XXXXXXXX).
Prints one JSON object with what each client answered and exits 1 if any answer is wrong.
"""

import json
import sys

import pwnedpasswords
import pwnedpasswords.pwnedpasswords as pwned_module
import pyhibp
import pyhibp.pwnedpasswords as pyhibp_passwords


def main() -> int:
    base = sys.argv[1].rstrip("/") + "/v1/exposure/"
    exposed, absent, current = [], [], None
    for argument in sys.argv[2:]:
        if argument == "--exposed":
            current = exposed
        elif argument == "--absent":
            current = absent
        else:
            current.append(argument)

    # pyhibp: its base URL is a module constant.
    pyhibp.set_user_agent(ua="haechi-interop-test")
    pyhibp_passwords.PWNED_PASSWORDS_API_BASE_URI = base

    # pwnedpasswords: the URL is built by a static method; replace only its base.
    def url(*components, **kwargs):
        return base + "/".join(components)

    pwned_module.PwnedPasswordsAPI.url = staticmethod(url)

    results = {"pyhibp": {}, "pyhibp_padded": {}, "pwnedpasswords": {}}
    failures = []
    for identifier in exposed + absent:
        results["pyhibp"][identifier] = pyhibp_passwords.is_password_breached(password=identifier)
        results["pyhibp_padded"][identifier] = pyhibp_passwords.is_password_breached(
            password=identifier, add_padding=True
        )
        results["pwnedpasswords"][identifier] = pwnedpasswords.check(identifier, plain_text=True)
        for client in results:
            count = results[client][identifier]
            if identifier in exposed and count < 1:
                failures.append(f"{client}: an exposed identifier answered {count}")
            if identifier in absent and count != 0:
                failures.append(f"{client}: an identifier never exposed answered {count}")

    # A padded range has at least 800 lines, every one SUFFIX:COUNT with 35 hex digits.
    import hashlib

    prefix = hashlib.sha1((exposed + absent)[0].encode()).hexdigest()[:5].upper()
    padded = pyhibp_passwords.suffix_search(hash_prefix=prefix, add_padding=True)
    results["padded_lines"] = len(padded)
    if len(padded) < 800:
        failures.append(f"a padded range has only {len(padded)} lines")
    for line in padded:
        suffix, _, count = line.partition(":")
        if len(suffix) != 35 or not count.isdigit():
            failures.append("a padded range line is not SUFFIX:COUNT")
            break

    results["failures"] = failures
    print(json.dumps(results, ensure_ascii=False, sort_keys=True))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
