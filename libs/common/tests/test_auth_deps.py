"""The auth dependencies through a tiny app over ASGITransport, as services use them."""

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI

from mch_common.auth.deps import (
    CurrentPrincipal,
    ensure_tenant,
    ensure_ward_access,
    require_any_scope,
    require_scope,
    require_terminal,
)
from mch_common.auth.jwt import JWKSVerifier
from mch_common.auth.principal import Principal
from mch_common.errors import PROBLEM_CONTENT_TYPE, Forbidden, install_problem_handlers
from mch_common.settings import ServiceSettings
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet

PERSON_READ = "atena:person:read"
MYNUMBER_READ = "atena:mynumber:read"
KITAKYUSHU = "401005"
CHIYODA = "131016"


def _app(verifier: JWKSVerifier, settings: ServiceSettings) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.verifier = verifier
    app.state.settings = settings

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str | None]:
        return {"sub": principal.sub, "ward": principal.ward}

    @app.get("/persons")
    async def persons(
        principal: Annotated[Principal, require_scope(PERSON_READ)],
    ) -> dict[str, str]:
        return {"sub": principal.sub}

    @app.get("/mynumbers")
    async def mynumbers(
        principal: Annotated[Principal, require_scope(PERSON_READ, MYNUMBER_READ)],
    ) -> dict[str, str]:
        return {"sub": principal.sub}

    @app.get("/reports")
    async def reports(
        principal: Annotated[Principal, require_any_scope(PERSON_READ, MYNUMBER_READ)],
    ) -> dict[str, str]:
        return {"sub": principal.sub}

    @app.get("/wards/{ward}/persons")
    async def ward_persons(
        ward: str, principal: Annotated[Principal, require_scope(PERSON_READ)]
    ) -> dict[str, str]:
        ensure_ward_access(principal, ward)
        return {"ward": ward}

    return app


@pytest.fixture
def settings() -> ServiceSettings:
    return ServiceSettings(environment="test", tenant=KITAKYUSHU)


@pytest.fixture
async def client(
    jwt_keys: TestKeySet, settings: ServiceSettings
) -> AsyncIterator[httpx.AsyncClient]:
    verifier = JWKSVerifier(jwt_keys.jwks_url, issuer=TEST_ISSUER, audience=TEST_AUDIENCE)
    transport = httpx.ASGITransport(app=_app(verifier, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as http:
        yield http
    await verifier.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    body: dict[str, object] = response.json()
    assert body["status"] == status
    return body


async def test_valid_token_reaches_the_route(
    client: httpx.AsyncClient, jwt_keys: TestKeySet
) -> None:
    response = await client.get("/me", headers=_bearer(jwt_keys.mint(ward="03")))

    assert response.status_code == 200
    assert response.json() == {"sub": "staff-0001", "ward": "03"}


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "missing bearer token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "authorization header is not a bearer token"),
        ({"Authorization": "Bearer "}, "authorization header is not a bearer token"),
        ({"Authorization": "Bearer not-a-jwt"}, "malformed token"),
    ],
)
async def test_missing_or_bad_credentials_are_401(
    client: httpx.AsyncClient, headers: dict[str, str], detail: str
) -> None:
    response = await client.get("/persons", headers=headers)

    body = _assert_problem(response, 401)
    assert body["detail"] == detail
    assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_token_is_401_problem(
    client: httpx.AsyncClient, jwt_keys: TestKeySet
) -> None:
    response = await client.get("/me", headers=_bearer(jwt_keys.mint(exp_in=-120)))

    assert _assert_problem(response, 401)["detail"] == "token expired"


async def test_missing_scope_is_403_naming_it(
    client: httpx.AsyncClient, jwt_keys: TestKeySet
) -> None:
    token = jwt_keys.mint(scopes=("boshi:record:read",))

    response = await client.get("/persons", headers=_bearer(token))

    body = _assert_problem(response, 403)
    assert body["type"] == "https://mch.example.jp/problems/forbidden"
    assert body["detail"] == f"missing scope {PERSON_READ}"
    assert body["instance"] == "/persons"


async def test_granted_scope_passes(client: httpx.AsyncClient, jwt_keys: TestKeySet) -> None:
    token = jwt_keys.mint(scopes=(PERSON_READ, "boshi:record:read"))

    response = await client.get("/persons", headers=_bearer(token))

    assert response.status_code == 200
    assert response.json() == {"sub": "staff-0001"}


async def test_every_listed_scope_is_required(
    client: httpx.AsyncClient, jwt_keys: TestKeySet
) -> None:
    partial = await client.get("/mynumbers", headers=_bearer(jwt_keys.mint(scopes=(PERSON_READ,))))
    full = await client.get(
        "/mynumbers", headers=_bearer(jwt_keys.mint(scopes=(PERSON_READ, MYNUMBER_READ)))
    )

    assert _assert_problem(partial, 403)["detail"] == f"missing scope {MYNUMBER_READ}"
    assert full.status_code == 200


async def test_any_listed_scope_is_enough_with_the_same_tenant_and_terminal_checks(
    client: httpx.AsyncClient, jwt_keys: TestKeySet
) -> None:
    one = await client.get("/reports", headers=_bearer(jwt_keys.mint(scopes=(MYNUMBER_READ,))))
    none = await client.get("/reports", headers=_bearer(jwt_keys.mint(scopes=("boshi:x:y",))))
    foreign = await client.get(
        "/reports", headers=_bearer(jwt_keys.mint(scopes=(PERSON_READ,), tenant=CHIYODA))
    )
    no_terminal = await client.get(
        "/reports", headers=_bearer(jwt_keys.mint(scopes=(PERSON_READ,), terminal=None))
    )

    assert one.status_code == 200
    assert _assert_problem(none, 403)["detail"] == f"missing scope {PERSON_READ} or {MYNUMBER_READ}"
    assert _assert_problem(foreign, 403)["detail"] == "the token belongs to another tenant"
    assert _assert_problem(no_terminal, 403)["detail"] == (
        "staff access requires a registered terminal"
    )


@pytest.mark.parametrize(
    ("principal_ward", "status"),
    [("02", 200), ("05", 403), (None, 200)],
    ids=["same-ward", "other-ward", "city-wide"],
)
async def test_ward_access_through_a_route(
    client: httpx.AsyncClient, jwt_keys: TestKeySet, principal_ward: str | None, status: int
) -> None:
    token = jwt_keys.mint(scopes=(PERSON_READ,), ward=principal_ward)

    response = await client.get("/wards/02/persons", headers=_bearer(token))

    assert response.status_code == status
    if status == 403:
        assert _assert_problem(response, 403)["detail"] == "the record belongs to another ward"


async def test_a_token_of_another_tenant_is_403_even_with_the_scope(
    client: httpx.AsyncClient, jwt_keys: TestKeySet
) -> None:
    staff = jwt_keys.mint(scopes=(PERSON_READ,), tenant=CHIYODA)
    service = jwt_keys.mint(sub="svc:boshi_core", scopes=(PERSON_READ,), tenant=CHIYODA)

    for token in (staff, service):
        response = await client.get("/persons", headers=_bearer(token))
        assert _assert_problem(response, 403)["detail"] == "the token belongs to another tenant"


async def test_a_multi_tenant_service_accepts_every_tenant(
    client: httpx.AsyncClient, jwt_keys: TestKeySet, settings: ServiceSettings
) -> None:
    settings.multi_tenant = True
    token = jwt_keys.mint(scopes=(PERSON_READ,), tenant=CHIYODA)

    response = await client.get("/persons", headers=_bearer(token))

    assert response.status_code == 200


async def test_a_staff_token_without_a_terminal_is_403_a_service_token_passes(
    client: httpx.AsyncClient, jwt_keys: TestKeySet
) -> None:
    staff = jwt_keys.mint(scopes=(PERSON_READ,), terminal=None)
    service = jwt_keys.mint(sub="svc:boshi_core", scopes=(PERSON_READ,), terminal=None)

    refused = await client.get("/persons", headers=_bearer(staff))
    passed = await client.get("/persons", headers=_bearer(service))

    assert _assert_problem(refused, 403)["detail"] == "staff access requires a registered terminal"
    assert passed.status_code == 200


def _principal(**overrides: object) -> Principal:
    fields: dict[str, object] = {"sub": "staff-0001", "tenant": "401005", "scopes": frozenset()}
    return Principal(**(fields | overrides))  # type: ignore[arg-type]


def test_ward_staff_cannot_see_residents_without_a_ward() -> None:
    with pytest.raises(Forbidden):
        ensure_ward_access(_principal(ward="02"), None)
    ensure_ward_access(_principal(ward=None), None)


def test_ensure_tenant() -> None:
    ensure_tenant(_principal(tenant="401005"), "401005")
    with pytest.raises(Forbidden, match="another tenant"):
        ensure_tenant(_principal(tenant="401005"), CHIYODA)


def test_require_terminal() -> None:
    require_terminal(_principal(terminal="TERM-0001"))
    require_terminal(_principal(sub="svc:boshi", terminal=None, is_service=True))
    with pytest.raises(Forbidden, match="registered terminal"):
        require_terminal(_principal(terminal=None))


def test_require_scope_needs_a_scope() -> None:
    with pytest.raises(ValueError, match="at least one scope"):
        require_scope()
