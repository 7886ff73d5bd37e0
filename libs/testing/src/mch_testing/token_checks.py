"""The shared token checks every service runs on each of its scoped routes: a token of another
tenant is refused, and so is a staff token without the terminal it was issued on, while a
service token needs none. A service's test subclasses `TokenChecks` and says only what is its
own (its scopes, a service client, a route for that client):

    class TestTokenChecks(TokenChecks):
        scopes = ALL_SCOPES
        service_sub = "svc:boshi_core"
        service_probe = "/persons/1000000009"

It needs the service's `app` and `client` fixtures (the client runs that app)."""

import httpx
import pytest
from fastapi import FastAPI

from mch_testing.keys import TestKeySet
from mch_testing.routes import Route, answers, api_routes, scoped_routes

ANOTHER_TENANT = "131016"  # Tokyo's Chiyoda ward: another municipality
OPERATIONAL_ROUTES = frozenset({"GET /healthz", "GET /readyz", "GET /metrics"})
ANOTHER_TENANT_REFUSAL = (403, "the token belongs to another tenant")
NO_TERMINAL_REFUSAL = (403, "staff access requires a registered terminal")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def answered_otherwise(
    client: httpx.AsyncClient,
    routes: list[Route],
    headers: dict[str, str],
    expected: tuple[int, str],
) -> dict[str, tuple[int, object]]:
    """The routes that did not answer `expected` (status, problem detail), with their answers:
    empty when every route refused as it should."""
    found = await answers(client, routes, headers)
    return {route: answer for route, answer in found.items() if answer != expected}


class TokenChecks:
    scopes: tuple[str, ...]  # every scope the service checks
    service_sub: str  # a service client calling it: "svc:<client_id>"
    service_probe: str  # a GET that a service token reaches and that answers 404
    # Routes public by design besides the operational ones ("POST /applications": a signed
    # package carries its own proof; the applicant's routes take her applicant session).
    public_routes: frozenset[str] = frozenset()

    @pytest.fixture
    async def routes(
        self, app: FastAPI, client: httpx.AsyncClient, jwt_keys: TestKeySet
    ) -> list[Route]:
        return await scoped_routes(app, client, bearer(jwt_keys.mint(roles=("mch_staff",))))

    async def test_a_token_of_another_tenant_is_refused_on_every_route(
        self, app: FastAPI, routes: list[Route], client: httpx.AsyncClient, jwt_keys: TestKeySet
    ) -> None:
        everything = {str(r) for r in api_routes(app)}
        assert everything - {str(r) for r in routes} == OPERATIONAL_ROUTES | self.public_routes
        staff = jwt_keys.mint(scopes=self.scopes, tenant=ANOTHER_TENANT, roles=("mch_staff",))
        service = jwt_keys.mint(sub=self.service_sub, scopes=self.scopes, tenant=ANOTHER_TENANT)

        for token in (staff, service):
            assert (
                await answered_otherwise(client, routes, bearer(token), ANOTHER_TENANT_REFUSAL)
                == {}
            )

    async def test_a_staff_token_without_a_terminal_is_refused_on_every_route(
        self, routes: list[Route], client: httpx.AsyncClient, jwt_keys: TestKeySet
    ) -> None:
        token = jwt_keys.mint(scopes=self.scopes, terminal=None, roles=("mch_staff",))

        assert await answered_otherwise(client, routes, bearer(token), NO_TERMINAL_REFUSAL) == {}

    async def test_a_service_token_needs_no_terminal(
        self, client: httpx.AsyncClient, jwt_keys: TestKeySet
    ) -> None:
        token = jwt_keys.mint(sub=self.service_sub, scopes=self.scopes, terminal=None)

        response = await client.get(self.service_probe, headers=bearer(token))

        assert response.status_code == 404, response.text
