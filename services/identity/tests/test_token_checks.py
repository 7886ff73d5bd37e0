"""The shared tenant check on every scoped route of identity (users, terminals, clients,
keys, reviews, audit): a token of another municipality is refused."""

from mch_testing.routes import answers, api_routes, scoped_routes

from .conftest import Identity

CHIYODA = "131016"  # Tokyo's Chiyoda ward: another municipality
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
    idp.app.state.settings = settings.model_copy(update={"tenant": CHIYODA})
    found = await answers(idp.client, routes, headers)

    refused = (403, "the token belongs to another tenant")
    assert {route: a for route, a in found.items() if a != refused} == {}
