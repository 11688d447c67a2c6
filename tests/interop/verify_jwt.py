"""Verify a Haechi access token with PyJWT, fetching the signing key from the JWKS over HTTP.

Usage: verify_jwt.py JWKS_URL TOKEN ISSUER
Prints the verified claims as JSON; exits non-zero if PyJWT refuses the token.
"""

import json
import sys

import jwt

jwks_url, token, issuer = sys.argv[1], sys.argv[2], sys.argv[3]
client = jwt.PyJWKClient(jwks_url)
signing_key = client.get_signing_key_from_jwt(token)
claims = jwt.decode(
    token,
    signing_key.key,
    algorithms=["EdDSA", "ES256"],
    audience="haechi",
    issuer=issuer,
    options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
)
print(json.dumps(claims))
