"""Service clients administered through the API (scope identity:client:admin): registered with
known scopes, a secret shown once, rotated and deactivated, each refusing the tokens held."""

from typing import Any

import httpx

from .conftest import Identity


async def operator(idp: Identity) -> dict[str, str]:
    netops = await idp.make_staff("netops01", ["network_operator"])
    return {"authorization": f"Bearer {await idp.token(netops)}"}


async def client_token(idp: Identity, client_id: str, secret: str) -> httpx.Response:
    return await idp.client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


async def register(idp: Identity, headers: dict[str, str], **body: Any) -> httpx.Response:
    payload = {
        "client_id": "immunization_bridge",
        "name": "予防接種連携",
        "scopes": ["atena:person:read"],
    } | body
    return await idp.client.post("/admin/clients", headers=headers, json=payload)


async def test_a_registered_client_gets_its_scopes_and_its_secret_once(idp: Identity) -> None:
    headers = await operator(idp)
    created = await register(idp, headers)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"  # the secret is shown once
    body = created.json()
    secret = body["client_secret"]
    assert body["client"]["scopes"] == ["atena:person:read"]
    listed = await idp.client.get("/admin/clients", headers=headers)
    assert [c["client_id"] for c in listed.json()] == ["immunization_bridge"]
    assert secret not in listed.text  # shown once, stored as a digest

    token = await client_token(idp, "immunization_bridge", secret)
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "atena:person:read"
    [registered] = await idp.audit("identity.client.register")
    assert registered.target_id == "immunization_bridge"


async def test_bad_registrations_are_refused_and_change_nothing(idp: Identity) -> None:
    headers = await operator(idp)
    unknown = await register(idp, headers, scopes=["atena:person:raed"])
    assert unknown.status_code == 422
    assert "no role grants this scope" in unknown.text
    own = await register(idp, headers, scopes=["identity:user:admin"])
    assert own.status_code == 422
    assert "identity's own scopes" in own.text
    malformed = await register(idp, headers, client_id="Has Spaces")
    assert malformed.status_code == 422
    assert (await idp.client.get("/admin/clients", headers=headers)).json() == []
    assert (await register(idp, headers)).status_code == 201
    assert (await register(idp, headers)).status_code == 409
    # Only a network operator may: a user administrator may not.
    admin = await idp.admin()
    assert (await register(idp, admin, client_id="other")).status_code == 403


async def test_rotating_the_secret_refuses_the_old_secret_and_its_tokens(idp: Identity) -> None:
    headers = await operator(idp)
    secret = (await register(idp, headers)).json()["client_secret"]
    old_token = (await client_token(idp, "immunization_bridge", secret)).json()["access_token"]
    bearer = {"authorization": f"Bearer {old_token}"}
    assert (await idp.client.get("/oauth2/me", headers=bearer)).status_code == 200

    rotated = await idp.client.post("/admin/clients/immunization_bridge/secret", headers=headers)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["client_secret"]
    assert new_secret != secret
    assert (await client_token(idp, "immunization_bridge", secret)).status_code == 401
    assert (await idp.client.get("/oauth2/me", headers=bearer)).status_code == 401
    fresh = (await client_token(idp, "immunization_bridge", new_secret)).json()["access_token"]
    me = await idp.client.get("/oauth2/me", headers={"authorization": f"Bearer {fresh}"})
    assert me.status_code == 200, me.text  # issued in the same second, still valid
    assert "identity.client.secret_rotated" in await idp.event_types_about("immunization_bridge")


async def test_taking_a_scope_away_or_deactivating_refuses_live_tokens(idp: Identity) -> None:
    headers = await operator(idp)
    secret = (
        await register(idp, headers, scopes=["atena:person:read", "atena:mynumber:lookup"])
    ).json()["client_secret"]
    token = (await client_token(idp, "immunization_bridge", secret)).json()["access_token"]
    bearer = {"authorization": f"Bearer {token}"}

    widened = await idp.client.put(
        "/admin/clients/immunization_bridge/scopes",
        headers=headers,
        json={"scopes": ["atena:person:read", "atena:mynumber:lookup", "boshi:checkup:read"]},
    )
    assert widened.status_code == 200, widened.text
    assert (await idp.client.get("/oauth2/me", headers=bearer)).status_code == 200  # kept
    narrowed = await idp.client.put(
        "/admin/clients/immunization_bridge/scopes",
        headers=headers,
        json={"scopes": ["atena:person:read"]},
    )
    assert narrowed.json()["scopes"] == ["atena:person:read"]
    assert (await idp.client.get("/oauth2/me", headers=bearer)).status_code == 401

    token = (await client_token(idp, "immunization_bridge", secret)).json()["access_token"]
    deactivated = await idp.client.post(
        "/admin/clients/immunization_bridge/deactivate", headers=headers
    )
    assert deactivated.json()["active"] is False
    refused = await idp.client.get("/oauth2/me", headers={"authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert (await client_token(idp, "immunization_bridge", secret)).status_code == 401
    again = await idp.client.post("/admin/clients/immunization_bridge/deactivate", headers=headers)
    assert again.status_code == 422
    missing = await idp.client.post("/admin/clients/nosuch/secret", headers=headers)
    assert missing.status_code == 404
    assert await idp.event_types_about("immunization_bridge") == [
        "identity.client.scopes_changed",
        "identity.client.deactivated",
    ]
