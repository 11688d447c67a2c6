"""A client generated from Haechi's OpenAPI document (openapi-python-client), used as a
team integrating with Haechi would: a customer logs in, a service reads that customer for a
purpose, and the service introspects the customer's token. Only the generated package and
its models are used (no hand-written HTTP). Prints one JSON object with what came back, for
tests/contract.rs to check.

Usage: generated_client.py PACKAGE_PARENT BASE_URL EMAIL PASSWORD SERVICE_ID SERVICE_SECRET
"""

import json
import sys

sys.path.insert(0, sys.argv[1])

# openapi-python-client 0.29.1 writes `body: X | Unset = UNSET` for a required request body
# offered in two media types (the OAuth endpoints: form and JSON) without importing `Unset`
# (its issue #1451): the generated modules would not import. Lend them the name.
import builtins  # noqa: E402

from haechi_client.types import Unset  # noqa: E402

builtins.Unset = Unset

from haechi_client import AuthenticatedClient, Client  # noqa: E402
from haechi_client.api.auth import login, session  # noqa: E402
from haechi_client.api.customers import read_customer  # noqa: E402
from haechi_client.api.oauth import introspect, token  # noqa: E402
from haechi_client.models import (  # noqa: E402
    ApiError,
    CustomerView,
    Introspection,
    LoginRequest,
    SessionInfo,
    TokenPair,
    TokenParameter,
    TokenRequest,
)

base, email, password, service_id, service_secret = sys.argv[2:7]
public = Client(base_url=base, raise_on_unexpected_status=True)


def expect(value, kind):
    if isinstance(value, ApiError):
        raise SystemExit(f"expected {kind.__name__}, got an error: {value.to_dict()}")
    if not isinstance(value, kind):
        raise SystemExit(f"expected {kind.__name__}, got {value!r}")
    return value


# 1. The customer logs in.
pair = expect(
    login.sync(client=public, body=LoginRequest(email=email, password=password)), TokenPair
)
customer = AuthenticatedClient(base_url=base, token=pair.access_token)
who = expect(session.sync(client=customer), SessionInfo)
customer_id = who.principal.removeprefix("customer:")

# 2. The service gets a token (client credentials) and reads the customer for shipping.
grant = expect(
    token.sync(
        client=public,
        body=TokenRequest(
            grant_type="client_credentials",
            client_id=service_id,
            client_secret=service_secret,
        ),
    ),
    TokenPair,
)
service = AuthenticatedClient(base_url=base, token=grant.access_token)
view = expect(
    read_customer.sync(id=customer_id, client=service, purpose="shipping"), CustomerView
)

# 3. The service introspects the customer's access token.
answer = expect(
    introspect.sync(client=service, body=TokenParameter(token=pair.access_token)), Introspection
)

# A refused call comes back as the ApiError model, not as an exception.
refused = read_customer.sync(id=customer_id, client=customer, purpose="shipping")

print(
    json.dumps(
        {
            "login": {"token_type": pair.token_type, "has_refresh": isinstance(pair.refresh_token, str)},
            "principal": who.principal,
            "read": view.to_dict(),
            "introspection": answer.to_dict(),
            "refused": refused.to_dict() if isinstance(refused, ApiError) else repr(refused),
        }
    )
)
