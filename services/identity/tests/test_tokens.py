"""Refresh rotation with reuse detection, client credentials, revocation and logout."""

import uuid

import httpx
import jwt
import pytest
from sqlalchemy import select

from identity.crypto import hash_client_secret
from identity.seed import DEMO_CLIENT_SECRET, DEMO_CLIENTS
from identity.tokens.models import ServiceClient
from mch_common.db import unit_of_work
from mch_common.events.tables import OutboxEvent
from mch_common.mynumber import contains_my_number

from .conftest import Identity


async def _refresh(idp: Identity, token: str) -> httpx.Response:
    response: httpx.Response = await idp.client.post(
        "/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": token}
    )
    return response


async def _events(idp: Identity, event_type: str) -> list[dict[str, object]]:
    async with idp.app.state.sessions() as session:
        rows = await session.execute(
            select(OutboxEvent.envelope).where(OutboxEvent.subject == event_type)
        )
        return [dict(r["data"]) for r in rows.scalars()]


async def test_refresh_rotates_and_reuse_revokes_the_family(idp: Identity) -> None:
    staff = await idp.make_staff("rt01", ["mch_staff"])
    first = (await idp.login(staff)).json()
    second = await _refresh(idp, first["refresh_token"])
    assert second.status_code == 200, second.text
    second_body = second.json()
    assert second_body["refresh_token"] != first["refresh_token"]
    new_access = second_body["access_token"]
    me = await idp.client.get("/oauth2/me", headers={"authorization": f"Bearer {new_access}"})
    assert me.status_code == 200

    # The first refresh token again: a thief or a replay. The whole family dies.
    reuse = await _refresh(idp, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["type"].endswith("/refresh-token-reused")
    after = await _refresh(idp, second_body["refresh_token"])
    assert after.status_code == 400
    assert after.json()["type"].endswith("/invalid-grant")
    # Access tokens of the family are revoked here and announced to every service.
    for access in (first["access_token"], new_access):
        refused = await idp.client.get("/oauth2/me", headers={"authorization": f"Bearer {access}"})
        assert refused.status_code == 401
        assert refused.json()["detail"] == "token revoked"
    revoked = {e["jti"] for e in await _events(idp, "identity.token.revoked")}
    jtis = {
        jwt.decode(t, options={"verify_signature": False})["jti"]
        for t in (first["access_token"], new_access)
    }
    assert jtis <= revoked


async def test_refresh_is_refused_after_the_user_is_suspended(idp: Identity) -> None:
    staff = await idp.make_staff("rt02", ["mch_staff"])
    body = (await idp.login(staff)).json()
    admin = await idp.admin()
    await idp.client.post(f"/admin/users/{staff.user_id}/suspend", headers=admin)
    refused = await _refresh(idp, body["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["type"].endswith("/invalid-grant")
    events = await _events(idp, "identity.user.suspended")
    assert [e["user_id"] for e in events] == [staff.user_id]
    assert isinstance(events[0]["at"], float)  # to the microsecond, as the tokens' iat


async def test_unknown_refresh_token_is_invalid_grant(idp: Identity) -> None:
    response = await _refresh(idp, "nope")
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-grant")


async def test_client_credentials(idp: Identity) -> None:
    async with unit_of_work(idp.app.state.sessions) as session:
        for client_id, name, scopes in DEMO_CLIENTS:
            session.add(
                ServiceClient(
                    client_id=client_id,
                    name=name,
                    secret_hash=hash_client_secret(DEMO_CLIENT_SECRET),
                    scopes=scopes,
                    active=True,
                )
            )
    ok = await idp.client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "boshi_core",
            "client_secret": DEMO_CLIENT_SECRET,
        },
    )
    assert ok.status_code == 200, ok.text
    assert "refresh_token" not in ok.json()
    claims = jwt.decode(ok.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "svc:boshi_core"
    assert claims["client_id"] == "boshi_core"
    assert claims["scope"].split() == [
        "atena:disclosure:export",  # boshi_core collects each service's disclosure
        "atena:mynumber:lookup",
        "atena:person:read",
        "eapp:disclosure:export",
        "eapp:export:pull",
        "immunization:disclosure:export",
        "immunization:status:read",
        "ims:disclosure:export",
        "ims:inquire",
    ]
    assert claims["ward"] is None
    me = await idp.client.get(
        "/oauth2/me", headers={"authorization": f"Bearer {ok.json()['access_token']}"}
    )
    assert me.json()["is_service"] is True

    basic = await idp.client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "atena:person:read"},
        auth=("boshi_core", DEMO_CLIENT_SECRET),
    )
    assert basic.status_code == 200
    assert basic.json()["scope"] == "atena:person:read"
    too_much = await idp.client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "atena:mynumber:read"},
        auth=("boshi_core", DEMO_CLIENT_SECRET),
    )
    assert too_much.status_code == 400
    wrong = await idp.client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=("boshi_core", "not-the-secret"),
    )
    assert wrong.status_code == 401
    assert wrong.json()["type"].endswith("/invalid-client")


async def test_logout_revokes_access_and_refresh_tokens(idp: Identity) -> None:
    staff = await idp.make_staff("out01", ["mch_staff"])
    body = (await idp.login(staff)).json()
    bearer = {"authorization": f"Bearer {body['access_token']}"}
    out = await idp.client.post("/oauth2/logout", headers=bearer)
    assert out.status_code == 204
    assert (await idp.client.get("/oauth2/me", headers=bearer)).status_code == 401
    refused = await _refresh(idp, body["refresh_token"])
    assert refused.status_code == 400
    jti = jwt.decode(body["access_token"], options={"verify_signature": False})["jti"]
    assert jti in {e["jti"] for e in await _events(idp, "identity.token.revoked")}


async def test_revoke_endpoint_accepts_access_refresh_and_garbage(idp: Identity) -> None:
    staff = await idp.make_staff("rev01", ["mch_staff"])
    body = (await idp.login(staff)).json()
    for token in (body["access_token"], body["refresh_token"], "garbage"):
        response = await idp.client.post("/oauth2/revoke", data={"token": token})
        assert response.status_code == 200
    assert (
        await idp.client.get(
            "/oauth2/me", headers={"authorization": f"Bearer {body['access_token']}"}
        )
    ).status_code == 401


async def test_discovery_documents(idp: Identity) -> None:
    config = (await idp.client.get("/.well-known/openid-configuration")).json()
    assert config["jwks_uri"].endswith("/.well-known/jwks.json")
    assert "client_credentials" in config["grant_types_supported"]
    jwks = (await idp.client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [idp.ctx.keyring.signing_kid]
    assert jwks["keys"][0]["alg"] == "ES256"


async def test_logout_works_whatever_the_token_id_looks_like(
    idp: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token id issued as bare hex held 12 digits passing the My Number check digit about
    once in 130 tokens; the event guard then refused its revocation event and logout was 500."""
    looks_like_a_my_number = uuid.UUID("07a2ca31-bee3-4241-8102-738292233668")
    assert contains_my_number(looks_like_a_my_number.hex)
    staff = await idp.make_staff("hex01", ["mch_staff"])
    monkeypatch.setattr(uuid, "uuid4", lambda: looks_like_a_my_number)  # for this login only
    body = (await idp.login(staff)).json()
    monkeypatch.undo()
    bearer = {"authorization": f"Bearer {body['access_token']}"}
    out = await idp.client.post("/oauth2/logout", headers=bearer)
    assert out.status_code == 204, out.text
    assert (await idp.client.get("/oauth2/me", headers=bearer)).status_code == 401
