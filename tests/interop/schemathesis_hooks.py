"""Schemathesis hooks for tests/contract.rs: each operation gets the credential its
`security` names (an administrator's, a service's or a customer's bearer token; none for
public operations), fetched from the real server through its own API.

Schemathesis's own requests change the server as they go: a logout ends the customer's
session, a patch may change its e-mail, a suspension may name the service, a shred may
erase a customer. So a token is checked (`GET /v1/auth/session`) before each use and made
anew when it no longer verifies; a suspended service is reinstated by the administrator; a
customer who can no longer log in is replaced by a new one that the service creates. None
of this is checked: only what schemathesis sends is.

Environment: HAECHI_URL, HAECHI_ADMIN (id:secret), HAECHI_SERVICE (id:secret),
HAECHI_CUSTOMER (email:password), HAECHI_POLICY (the access policy the server started with).
"""

import base64
import json
import os
import random
import urllib.error
import urllib.parse
import urllib.request

import schemathesis

BASE = os.environ["HAECHI_URL"].rstrip("/")
ADMIN = tuple(os.environ["HAECHI_ADMIN"].split(":", 1))
SERVICE = tuple(os.environ["HAECHI_SERVICE"].split(":", 1))
CUSTOMER = list(os.environ["HAECHI_CUSTOMER"].split(":", 1))
# Our own stream of new customers' identifiers; schemathesis's seed is its own.
_identities = random.Random(20250624)


def call(method, path, *, token=None, basic=None, json_body=None, form=None):
    """One request to the server; returns (status, parsed JSON or None)."""
    headers = {}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if basic:
        pair = f"{urllib.parse.quote(basic[0])}:{urllib.parse.quote(basic[1])}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    if json_body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(json_body).encode()
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(BASE + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, None


def put_policy():
    request = urllib.request.Request(
        BASE + "/v1/admin/policy",
        data=os.environ["HAECHI_POLICY"].encode(),
        headers={"Authorization": f"Bearer {token('admin')}", "Content-Type": "application/toml"},
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def verifies(token):
    return token is not None and call("GET", "/v1/auth/session", token=token)[0] == 200


_tokens = {}


def client_token(kind):
    credential = ADMIN if kind == "admin" else SERVICE
    for _ in range(2):
        status, body = call(
            "POST",
            "/v1/oauth/token",
            basic=credential,
            form={"grant_type": "client_credentials"},
        )
        if status == 200:
            return body["access_token"]
        if status == 403 and kind == "service":
            # Schemathesis suspended the service (POST /v1/admin/suspensions): reinstate it.
            principal = "service:" + SERVICE[0].split(".", 1)[1]
            call(
                "DELETE",
                "/v1/admin/suspensions/" + urllib.parse.quote(principal),
                token=token("admin"),
            )
            continue
        break
    raise RuntimeError(f"no {kind} token: {status} {body}")


def customer_token():
    status, body = call(
        "POST", "/v1/auth/login", json_body={"email": CUSTOMER[0], "password": CUSTOMER[1]}
    )
    if status == 200:
        return body["access_token"]
    # Schemathesis changed the customer's e-mail, shredded it or suspended it: a new one.
    number = _identities.randrange(10**8)
    email = f"contract{number}@example.com"
    phone = f"010-{7000 + number % 3000:04d}-{number % 10000:04d}"
    new = {"name": "김민준", "email": email, "phone": phone, "password": CUSTOMER[1]}
    status, body = call("POST", "/v1/customers", token=token("service"), json_body=new)
    if status == 403:
        # Schemathesis replaced the access policy (PUT /v1/admin/policy): put the test's back.
        put_policy()
        status, body = call("POST", "/v1/customers", token=token("service"), json_body=new)
    if status != 201:
        raise RuntimeError(f"cannot make a new customer: {status} {body}")
    CUSTOMER[0] = email
    status, body = call("POST", "/v1/auth/login", json_body={"email": email, "password": CUSTOMER[1]})
    if status != 200:
        raise RuntimeError(f"the new customer cannot log in: {status} {body}")
    return body["access_token"]


def token(kind):
    cached = _tokens.get(kind)
    if verifies(cached):
        return cached
    fresh = customer_token() if kind == "customer" else client_token(kind)
    _tokens[kind] = fresh
    return fresh


def bearer(kind):
    class Bearer:
        def get(self, case, ctx):
            return token(kind)

        def set(self, case, data, ctx):
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"

    Bearer.__name__ = f"{kind.capitalize()}Bearer"
    return Bearer


# The role each operation's `security` names (`bearer: [role]`); public ones get nothing.
CUSTOMER_OPERATIONS = [
    "session",
    "logout",
    "read_own_record",
    "patch_own_record",
    "read_own_addresses",
    "add_own_address",
    "remove_own_address",
]
SERVICE_OPERATIONS = [
    "create_customer",
    "read_customer",
    "batch_get_customers",
    "lookup_customers",
    "shred_customer",
    "introspect",
    "revoke",
]

schemathesis.auth(refresh_interval=None).apply_to(operation_id=CUSTOMER_OPERATIONS)(
    bearer("customer")
)
schemathesis.auth(refresh_interval=None).apply_to(operation_id=SERVICE_OPERATIONS)(
    bearer("service")
)
schemathesis.auth(refresh_interval=None).apply_to(path_regex="^/(v1/admin/|metrics$)")(
    bearer("admin")
)

# The access policy is TOML text: send generated policies as text, the way `text/plain` is.
schemathesis.serializer.alias("application/toml", "text/plain")
