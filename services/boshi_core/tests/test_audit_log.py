"""boshi_core's audit endpoints, its operators' verifier, and tampering detected against the
anchor."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.config import Settings
from boshi_core.main import create_app
from boshi_core.testsupport import Auth
from mch_common.auth.principal import Principal
from mch_common.work import UnitOfWork
from mch_testing.audit import TamperingDatabase, check_the_chain_verifies_for_auditors_only

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

    await check_the_chain_verifies_for_auditors_only(client, auditor=auditor, unscoped=auth())


async def test_truncation_and_rewrites_are_detected(
    tampering_database: TamperingDatabase,
) -> None:
    await tampering_database.check_detected(
        lambda settings: create_app(settings, with_consumers=False),
        Settings(**tampering_database.settings, client_id="boshi_core"),
    )
