"""boshi_core's audit endpoints, its operators' verifier, and tampering detected against the
anchor."""

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.config import Settings
from boshi_core.main import create_app
from boshi_core.testsupport import Auth
from mch_common.auth.principal import Principal
from mch_common.work import UnitOfWork
from mch_testing.audit import check_audit_tampering_is_detected, tampering_settings
from mch_testing.plugin import DatabaseFactory

AUDIT_READ = "boshi:audit:read"
MOTHER = "1000000019"


async def test_the_auditor_reads_the_log_filtered_and_verifies_the_chain(
    client: httpx.AsyncClient, auth: Auth, db_session: AsyncSession
) -> None:
    staff = Principal(sub="staff-0002", tenant="401005", scopes=frozenset(), terminal="T-01")
    async with UnitOfWork.on(db_session) as work:
        work.record_access(staff, action="pregnancy.read", target_type="person", target_id=MOTHER)
        work.record_access(
            staff,
            action="pregnancy.read",
            target_type="person",
            target_id=MOTHER,
            outcome="forbidden",
        )
        await work.flush()
    auditor = auth((AUDIT_READ,), sub="auditor-01")

    refused = await client.get(
        "/admin/audit", headers=auditor, params={"target_id": MOTHER, "outcome": "forbidden"}
    )
    assert refused.status_code == 200, refused.text
    assert [(r["actor"], r["outcome"]) for r in refused.json()["items"]] == [
        ("staff-0002", "forbidden")
    ]
    everything = await client.get("/admin/audit", headers=auditor, params={"actor": "staff-0002"})
    assert [r["outcome"] for r in everything.json()["items"]] == ["forbidden", "success"]

    verified = await client.get("/admin/audit/verify", headers=auditor)
    assert verified.json()["ok"] is True
    for path in ("/admin/audit", "/admin/audit/verify"):
        assert (await client.get(path, headers=auth())).status_code == 403


async def test_truncation_and_rewrites_are_detected(
    database_factory: DatabaseFactory,
    migrations_path: Path,
    test_database_name: str,
    service_settings: dict[str, Any],
) -> None:
    url = await database_factory.create(f"{test_database_name}_tamper", migrations_path)
    await check_audit_tampering_is_detected(
        create_app=lambda settings: create_app(settings, with_consumers=False),
        settings=Settings(**tampering_settings(service_settings, url), client_id="boshi_core"),
        owner_url=database_factory.owner_url(url),
    )
