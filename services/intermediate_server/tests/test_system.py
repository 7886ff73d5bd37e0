"""System management: health covers the permission list and the hub's key expiry; statistics
per tenant and item; batch status; retention. A municipality's system administrator sees and
runs them for its own municipality; the platform operator for every one."""

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from national_hub.hub import NationalHub
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.config import Settings
from intermediate_server.deps import INQUIRE, PLATFORM_ADMIN, SYSTEM_ADMIN
from intermediate_server.tenancy import enter_tenant

from .conftest import CLAUSE_95, FUKUOKA, KITAKYUSHU, Headers, Person


async def test_health_covers_the_permission_list_and_the_key_expiry(
    app: FastAPI,
    settings: Settings,
    client: httpx.AsyncClient,
    headers: Headers,
    db_session: AsyncSession,
) -> None:
    admin = headers(SYSTEM_ADMIN, sub="kitakyushu-admin")
    operator = headers(PLATFORM_ADMIN, sub="ims-operator")
    healthy = await client.get("/admin/system/health", headers=admin)
    assert healthy.status_code == 200, healthy.text
    assert healthy.json()["ok"] is True
    assert healthy.json()["permission_list_version"] == healthy.json()["hub_list_version"] == 1
    assert healthy.json()["permission_rules_in_force"] == 2

    # The hub changes its list and its key is about to expire: both show.
    await db_session.execute(
        text(
            "INSERT INTO hub.permission_rule (list_version, requester, provider, clause, item_no,"
            " item_name, valid_from) VALUES (2, '*', '*', 'x', '80', 'x', '2027-04-01')"
        )
    )
    keys = settings.hub_keys
    expiring = type(keys)(
        signing_key_id=keys.signing_key_id,
        signing_key=keys.signing_key,
        signing_key_expires_at=datetime.now(UTC) + timedelta(days=10),
        code_secret=keys.code_secret,
        index_secret=keys.index_secret,
    )
    app.state.hub = NationalHub(sessions=app.state.sessions, keys=expiring)
    unhealthy = (await client.get("/admin/system/health", headers=admin)).json()
    assert unhealthy["ok"] is False
    assert unhealthy["signing_key_days_left"] == 9
    assert unhealthy["problems"] == [
        "the permission list copy is not the hub's current version",
        "the hub's signing key expires within 30 days",
    ]

    # The list copy is the platform's: a municipality's administrator may not sync it.
    refused = await client.post("/admin/system/permission-list/sync", headers=admin)
    assert refused.status_code == 403, refused.text
    synced = await client.post("/admin/system/permission-list/sync", headers=operator)
    assert synced.json()["counts"] == {"rules": 3, "list_version": 2}
    assert (await client.get("/admin/system/health", headers=admin)).json()["problems"] == [
        "the hub's signing key expires within 30 days"
    ]
    batches = (await client.get("/admin/system/batches", headers=admin)).json()["items"]
    assert [b["job"] for b in batches] == ["permission_list.sync"]


async def test_statistics_per_tenant_and_item_and_retention(
    client: httpx.AsyncClient, headers: Headers, person: Person, db_session: AsyncSession
) -> None:
    kitakyushu_no = await person(KITAKYUSHU)
    await person(FUKUOKA)
    admin = headers(PLATFORM_ADMIN, sub="ims-operator")
    before = (await client.get("/admin/system/stats", headers=admin)).json()["items"]
    asked = await client.post(
        "/inquiries",
        json={
            "person_no": kitakyushu_no,
            "provider": FUKUOKA,
            "clause": CLAUSE_95,
            "items": ["95"],
        },
        headers=headers(INQUIRE),
    )
    assert asked.status_code == 201, asked.text

    after = (await client.get("/admin/system/stats", headers=admin)).json()["items"]

    def count(items: list[dict[str, object]], tenant: str, side: str) -> int:
        return sum(
            int(str(i["count"]))
            for i in items
            if (i["tenant"], i["side"], i["item_no"]) == (tenant, side, "95")
        )

    assert count(after, KITAKYUSHU, "requester") == count(before, KITAKYUSHU, "requester") + 1
    assert count(after, FUKUOKA, "provider") == count(before, FUKUOKA, "provider") + 1

    # An inquiry asked 8 years ago is past retention; today's stays.
    await enter_tenant(db_session, KITAKYUSHU)
    await db_session.execute(
        text("UPDATE inquiry SET asked_at = now() - interval '8 years' WHERE id = :id"),
        {"id": asked.json()["id"]},
    )
    # Fukuoka's administrator deletes only Fukuoka's; Kitakyushu's, its inquiry.
    fukuoka_run = await client.post(
        "/admin/system/retention", headers=headers(SYSTEM_ADMIN, tenant=FUKUOKA)
    )
    assert fukuoka_run.json()["counts"]["inquiries"] == 0
    run = await client.post("/admin/system/retention", headers=headers(SYSTEM_ADMIN))
    assert run.status_code == 200, run.text
    assert run.json()["counts"]["inquiries"] == 1
    assert run.json()["counts"]["by_tenant"] == {
        KITAKYUSHU: {"inquiries": 1, "held_provisions": 0, "used_permits": 0}
    }
    gone = await client.get(f"/inquiries/{asked.json()['id']}", headers=headers(INQUIRE))
    assert gone.status_code == 404


async def test_a_municipalitys_administrator_sees_only_its_own_municipality(
    client: httpx.AsyncClient, headers: Headers, person: Person
) -> None:
    kitakyushu_no = await person(KITAKYUSHU)
    await person(FUKUOKA)
    asked = await client.post(
        "/inquiries",
        json={
            "person_no": kitakyushu_no,
            "provider": FUKUOKA,
            "clause": CLAUSE_95,
            "items": ["95"],
        },
        headers=headers(INQUIRE),
    )
    assert asked.status_code == 201, asked.text
    operator = headers(PLATFORM_ADMIN, sub="ims-operator")
    assert (await client.post("/admin/system/held/expire", headers=operator)).status_code == 200

    def tenants_in(answer: httpx.Response) -> set[str]:
        assert answer.status_code == 200, answer.text
        return {str(i["tenant"]) for i in answer.json()["items"]}

    # The statistics come from the audit log: its row-level security leaves a municipality's
    # transaction its own records, whatever the statement asks.
    kitakyushu = headers(SYSTEM_ADMIN, sub="kitakyushu-admin")
    fukuoka = headers(SYSTEM_ADMIN, tenant=FUKUOKA, sub="fukuoka-admin")
    assert tenants_in(await client.get("/admin/system/stats", headers=kitakyushu)) == {KITAKYUSHU}
    assert tenants_in(await client.get("/admin/system/stats", headers=fukuoka)) == {FUKUOKA}
    assert tenants_in(await client.get("/admin/system/stats", headers=operator)) == {
        KITAKYUSHU,
        FUKUOKA,
    }

    # The platform's run covered both municipalities: each administrator sees its own part.
    (mine,) = (await client.get("/admin/system/batches", headers=kitakyushu)).json()["items"]
    assert (mine["job"], mine["counts"]) == ("held.expire", {"expired": 0})
    (whole,) = (await client.get("/admin/system/batches", headers=operator)).json()["items"]
    assert set(whole["counts"]["by_tenant"]) == {KITAKYUSHU, FUKUOKA}

    # Retiring provision records and syncing the list are the platform operator's alone.
    for path in ("/admin/system/records/retire", "/admin/system/permission-list/sync"):
        refused = await client.post(path, headers=kitakyushu)
        assert refused.status_code == 403, refused.text
