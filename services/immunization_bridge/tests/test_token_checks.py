"""The shared token checks on every scoped route of the bridge: a token of another tenant is
refused, and so is a staff token without the terminal it was issued on."""

import httpx
import pytest
from fastapi import FastAPI

from mch_testing.keys import TestKeySet
from mch_testing.routes import Route, answers, api_routes, scoped_routes

from .conftest import ALL_SCOPES

CHIYODA = "131016"  # Tokyo's Chiyoda ward: another municipality


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def routes(app: FastAPI, client: httpx.AsyncClient, jwt_keys: TestKeySet) -> list[Route]:
    return await scoped_routes(app, client, bearer(jwt_keys.mint(roles=("mch_staff",))))


async def test_a_token_of_another_tenant_is_refused_on_every_route(
    app: FastAPI, routes: list[Route], client: httpx.AsyncClient, jwt_keys: TestKeySet
) -> None:
    everything = {str(r) for r in api_routes(app)}
    assert everything - {str(r) for r in routes} == {"GET /healthz", "GET /readyz", "GET /metrics"}
    staff = jwt_keys.mint(scopes=ALL_SCOPES, tenant=CHIYODA, roles=("mch_staff",))
    service = jwt_keys.mint(sub="svc:boshi_core", scopes=ALL_SCOPES, tenant=CHIYODA)

    for token in (staff, service):
        found = await answers(client, routes, bearer(token))
        refused = (403, "the token belongs to another tenant")
        assert {route: a for route, a in found.items() if a != refused} == {}


async def test_a_staff_token_without_a_terminal_is_refused_on_every_route(
    routes: list[Route], client: httpx.AsyncClient, jwt_keys: TestKeySet
) -> None:
    token = jwt_keys.mint(scopes=ALL_SCOPES, terminal=None, roles=("mch_staff",))

    found = await answers(client, routes, bearer(token))

    refused = (403, "staff access requires a registered terminal")
    assert {route: a for route, a in found.items() if a != refused} == {}


async def test_a_service_token_needs_no_terminal(
    client: httpx.AsyncClient, jwt_keys: TestKeySet
) -> None:
    token = jwt_keys.mint(sub="svc:boshi_core", scopes=ALL_SCOPES, terminal=None)

    response = await client.get("/children/1000000008/status", headers=bearer(token))

    assert response.status_code == 404, response.text
