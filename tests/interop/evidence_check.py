"""An auditor's independent check of a Haechi evidence report, with tools Haechi did not write:
the JSON validated against the published JSON Schema (python-jsonschema, Draft 2020-12), and
each file's detached Ed25519 signature checked against the audit public key (pyca/cryptography).

usage: python3 evidence_check.py SCHEMA PUBLIC_KEY_PEM REPORT_JSON [FILE SIGNATURE]...
Prints one line per check; exits 1 if any fails.
"""
import json
import sys

import jsonschema
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

schema_path, key_path, report_path, *pairs = sys.argv[1:]
failed = False

with open(schema_path, encoding="utf-8") as file:
    schema = json.load(file)
jsonschema.Draft202012Validator.check_schema(schema)
with open(report_path, encoding="utf-8") as file:
    report = json.load(file)
errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(report), key=str)
if errors:
    failed = True
    for error in errors[:10]:
        print(f"schema: {list(error.absolute_path)}: {error.message}")
else:
    print("schema: valid")

with open(key_path, "rb") as file:
    key = load_pem_public_key(file.read())
for data_path, signature_path in zip(pairs[0::2], pairs[1::2]):
    with open(data_path, "rb") as file:
        data = file.read()
    with open(signature_path, "rb") as file:
        signature = file.read()
    try:
        key.verify(signature, data)
        print(f"{data_path}: signature good")
    except InvalidSignature:
        failed = True
        print(f"{data_path}: signature BAD")

sys.exit(1 if failed else 0)
