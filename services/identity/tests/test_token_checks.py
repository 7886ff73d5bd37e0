"""The shared tenant check on every scoped route of identity (users, terminals, clients,
keys, reviews, audit): a token of another municipality is refused."""

from mch_testing.routes import api_routes, scoped_routes
from mch_testing.token_checks import ANOTHER_TENANT, ANOTHER_TENANT_REFUSAL, answered_otherwise

from .conftest import Identity

# Signing in, one's own session and the key set need a token of no scope, or none at all.
OWN_SESSION = frozenset({"POST /oauth2/password", "POST /oauth2/revoke", "POST /oauth2/logout"})
UNSCOPED = OWN_SESSION | {
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "POST /oauth2/token",
    "GET /oauth2/me",
    "GET /.well-known/jwks.json",
    "GET /.well-known/openid-configuration",
}


async def test_a_token_of_another_tenant_is_refused_on_every_route(idp: Identity) -> None:
    staff = await idp.make_staff("center01", ["center_staff"])  # no identity scope
    headers = {"authorization": f"Bearer {await idp.token(staff)}"}
    routes = await scoped_routes(idp.app, idp.client, headers, exclude=OWN_SESSION)
    assert {str(r) for r in api_routes(idp.app)} - {str(r) for r in routes} == UNSCOPED

    # The same token, at an identity serving another municipality.
    settings = idp.app.state.settings
    idp.app.state.settings = settings.model_copy(update={"tenant": ANOTHER_TENANT})
    assert await answered_otherwise(idp.client, routes, headers, ANOTHER_TENANT_REFUSAL) == {}
