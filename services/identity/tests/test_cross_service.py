"""Identity over real HTTP (uvicorn on loopback) and a second service verifying its tokens the
way every service does: JWKS over HTTP, revocations from identity's event stream."""

import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from identity.config import Settings
from identity.keys.models import SigningKey
from identity.main import create_app
from mch_common.auth.deps import ensure_ward_access, require_scope
from mch_common.auth.principal import Principal
from mch_common.db import unit_of_work
from mch_common.routes import ServiceRouter
from mch_common.runtime import service_lifespan
from mch_common.settings import ServiceSettings
from mch_common.web import create_service_app
from mch_testing.app import running_app, serve_over_http

from .conftest import Identity

REVOCATION_BUDGET_S = 5.0


def probe_app(settings: ServiceSettings) -> FastAPI:
    """A tiny MCH service: ward staff may read only their own ward's records."""
    router = ServiceRouter()

    @router.get("/wards/{ward}/records")
    async def records(
        ward: str, principal: Annotated[Principal, require_scope("boshi:pregnancy:read")]
    ) -> dict[str, Any]:
        ensure_ward_access(principal, ward)
        return {"ward": ward, "sub": principal.sub}

    return create_service_app(
        service="probe",
        title="probe",
        description="test service",
        lifespan=service_lifespan(settings, stream_service="probe", configure_logs=False),
        routers=[router],
    )


@dataclass
class Stack:
    idp: Identity
    identity_url: str
    identity_http: httpx.AsyncClient
    probe: httpx.AsyncClient


@pytest.fixture
async def stack(settings: Settings, service_settings: dict[str, Any]) -> AsyncIterator[Stack]:
    app = create_app(settings)
    async with serve_over_http(app) as url:
        http = httpx.AsyncClient(base_url=url)
        helper = Identity(app, http)
        await helper.add_terminals()
        probe_settings = ServiceSettings(
            **{
                **service_settings,
                "service_name": "probe",
                "jwks_url": f"{url}/.well-known/jwks.json",
                "jwt_issuer": settings.jwt_issuer,
                "log_level": "WARNING",
            }
        )
        async with running_app(probe_app(probe_settings)) as probe:
            yield Stack(helper, url, http, probe)
        await http.aclose()


async def _until_refused(probe: httpx.AsyncClient, path: str, token: str) -> tuple[float, Any]:
    started = time.monotonic()
    while True:
        response = await probe.get(path, headers={"authorization": f"Bearer {token}"})
        elapsed = time.monotonic() - started
        if response.status_code != 200:
            return elapsed, response
        if elapsed > REVOCATION_BUDGET_S * 2:
            return elapsed, response
        await _sleep(0.05)


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


async def test_revoked_users_live_token_is_refused_by_another_service_within_5s(
    stack: Stack,
) -> None:
    idp = stack.idp
    staff = await idp.make_staff("ward01", ["ward_mch_staff"], ward="401099")
    token = await idp.token(staff)
    bearer = {"authorization": f"Bearer {token}"}
    ok = await stack.probe.get("/wards/401099/records", headers=bearer)
    assert ok.status_code == 200, ok.text

    admin = await idp.admin()
    revoked = await stack.identity_http.post(
        f"/admin/users/{staff.user_id}/revoke", headers=admin, json={"reason": "退職"}
    )
    assert revoked.status_code == 200
    elapsed, refused = await _until_refused(stack.probe, "/wards/401099/records", token)
    assert refused.status_code == 401, refused.text
    assert refused.json()["detail"] == "token revoked"
    sys.stderr.write(f"revoked user refused by another service after {elapsed:.3f} s\n")
    assert elapsed < REVOCATION_BUDGET_S, f"revocation took {elapsed:.2f}s"
    # Identity itself refuses it at once (it checks the database).
    assert (await stack.identity_http.get("/oauth2/me", headers=bearer)).status_code == 401


async def test_transferred_user_loses_the_old_ward(
    stack: Stack,
) -> None:
    idp = stack.idp
    staff = await idp.make_staff("move01", ["ward_mch_staff"], ward="401099")
    token = await idp.token(staff)
    assert (
        await stack.probe.get("/wards/401099/records", headers={"authorization": f"Bearer {token}"})
    ).status_code == 200

    admin = await idp.admin()
    moved = await stack.identity_http.post(
        f"/admin/users/{staff.user_id}/transfers",
        headers=admin,
        json={"ward": "401064", "dept": "小倉北区保健福祉課", "roles": ["ward_mch_staff"]},
    )
    assert moved.status_code == 201, moved.text
    assert moved.json()["status"] == "applied"
    elapsed, refused = await _until_refused(stack.probe, "/wards/401099/records", token)
    assert refused.status_code == 401
    sys.stderr.write(f"transferred user's old token refused after {elapsed:.3f} s\n")
    assert elapsed < REVOCATION_BUDGET_S

    # A new login carries the new ward: the old ward is refused, the new one served.
    new_token = await idp.token(staff, code=staff.code(offset_steps=1), terminal="HQ-TEST-01")
    claims = jwt.decode(new_token, options={"verify_signature": False})
    assert claims["ward"] == "401064"
    assert claims["dept"] == "小倉北区保健福祉課"
    bearer = {"authorization": f"Bearer {new_token}"}
    old_ward = await stack.probe.get("/wards/401099/records", headers=bearer)
    assert old_ward.status_code == 403
    assert old_ward.json()["detail"] == "the record belongs to another ward"
    assert (await stack.probe.get("/wards/401064/records", headers=bearer)).status_code == 200


async def test_rotated_keys_keep_old_tokens_valid_until_they_expire(stack: Stack) -> None:
    idp = stack.idp
    staff = await idp.make_staff("rot01", ["ward_mch_staff"], ward="401099")
    old_token = await idp.token(staff)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    assert (
        await stack.probe.get(
            "/wards/401099/records", headers={"authorization": f"Bearer {old_token}"}
        )
    ).status_code == 200

    netops = await idp.make_staff("netops01", ["network_operator"])
    rotation = await stack.identity_http.post(
        "/admin/keys/rotate",
        headers={"authorization": f"Bearer {await idp.token(netops)}"},
    )
    assert rotation.status_code == 200, rotation.text
    new_kid = rotation.json()["kid"]
    assert new_kid != old_kid
    assert set(rotation.json()["published_kids"]) == {old_kid, new_kid}
    jwks = (await stack.identity_http.get("/.well-known/jwks.json")).json()
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, new_kid}
    assert all("d" not in k for k in jwks["keys"])  # never a private part

    # New tokens are signed with the new key; both are accepted everywhere.
    new_token = await idp.token(staff, code=staff.code(offset_steps=1))
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    for token in (old_token, new_token):
        response = await stack.probe.get(
            "/wards/401099/records", headers={"authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        assert (
            await stack.identity_http.get(
                "/oauth2/me", headers={"authorization": f"Bearer {token}"}
            )
        ).status_code == 200

    # The old key stays published until the last token it signed has expired...
    async with idp.app.state.sessions() as session:
        old = await session.get(SigningKey, old_kid)
        assert old is not None
        assert old.retired_at is not None
        assert old.publish_until is not None
        ttl = timedelta(seconds=idp.ctx.settings.access_token_ttl_seconds)
        assert old.publish_until >= old.retired_at + ttl
        old_exp = jwt.decode(old_token, options={"verify_signature": False})["exp"]
        assert old.publish_until.timestamp() >= old_exp
    # ...and then leaves the JWKS, after which nothing signed with it is accepted.
    async with unit_of_work(idp.app.state.sessions) as session:
        await session.execute(
            update(SigningKey)
            .where(SigningKey.kid == old_kid)
            .values(publish_until=SigningKey.retired_at)
        )
    jwks = (await stack.identity_http.get("/.well-known/jwks.json")).json()
    assert {k["kid"] for k in jwks["keys"]} == {new_kid}
    await idp.ctx.keyring.reload(idp.app.state.sessions)
    refused = await stack.identity_http.get(
        "/oauth2/me", headers={"authorization": f"Bearer {old_token}"}
    )
    assert refused.status_code == 401


async def test_a_rotated_client_secret_refuses_its_tokens_in_another_service(
    stack: Stack,
) -> None:
    idp = stack.idp
    netops = await idp.make_staff("netops02", ["network_operator"])
    operator = {"authorization": f"Bearer {await idp.token(netops)}"}
    created = await stack.identity_http.post(
        "/admin/clients",
        headers=operator,
        json={"client_id": "probe_client", "name": "probe", "scopes": ["boshi:pregnancy:read"]},
    )
    assert created.status_code == 201, created.text
    issued = await stack.identity_http.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "probe_client",
            "client_secret": created.json()["client_secret"],
        },
    )
    token = issued.json()["access_token"]
    ok = await stack.probe.get(
        "/wards/401099/records", headers={"authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 200, ok.text

    rotated = await stack.identity_http.post("/admin/clients/probe_client/secret", headers=operator)
    assert rotated.status_code == 200
    elapsed, refused = await _until_refused(stack.probe, "/wards/401099/records", token)
    assert refused.status_code == 401, refused.text
    assert elapsed < REVOCATION_BUDGET_S, f"revocation took {elapsed:.2f}s"
