"""atena's audit endpoints, its operators' verifier, and tampering detected against the anchor."""

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from atena.config import Settings
from atena.main import create_app
from atena.testing import Headers
from mch_common import runtime
from mch_common.audit_cli import verify
from mch_common.db import asyncpg_dsn, unit_of_work
from mch_common.work import UnitOfWork
from mch_testing.audit import TamperingDatabase, check_the_chain_verifies_for_auditors_only

AUDIT_READ = "atena:audit:read"


async def test_the_auditor_reads_the_log_newest_first_and_verifies_the_chain(
    client: httpx.AsyncClient, headers: Headers, make_person: Any
) -> None:
    person = await make_person()
    await client.get(f"/persons/{person['person_no']}", headers=headers(purpose="eligibility"))
    auditor = headers(AUDIT_READ, sub="auditor-01")

    page = await client.get(
        "/admin/audit", headers=auditor, params={"target_id": person["person_no"], "limit": 1}
    )
    assert page.status_code == 200, page.text
    [newest] = page.json()["items"]
    assert newest["action"] == "person.read"
    older = await client.get(
        "/admin/audit",
        headers=auditor,
        params={"target_id": person["person_no"], "before": page.json()["next_before"]},
    )
    assert [r["action"] for r in older.json()["items"]] == ["person.registered"]
    assert older.json()["next_before"] is None
    by_staff = await client.get(
        "/admin/audit", headers=auditor, params={"actor": "staff-0001", "outcome": "success"}
    )
    assert {r["actor"] for r in by_staff.json()["items"]} == {"staff-0001"}

    await check_the_chain_verifies_for_auditors_only(client, auditor=auditor, unscoped=headers())


async def test_truncation_and_rewrites_are_detected(
    tampering_database: TamperingDatabase,
) -> None:
    await tampering_database.check_detected(create_app, Settings(**tampering_database.settings))


async def test_a_shutdown_waits_for_the_chain_s_lock_only_so_long(
    tampering_database: TamperingDatabase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The final anchor takes the chain's lock; while another transaction holds it (a
    retention run, a connection left in a transaction) the shutdown goes on after
    SHUTDOWN_WAIT, and the next start seals and anchors what is left."""
    monkeypatch.setattr(runtime, "SHUTDOWN_WAIT", 0.5)
    settings = Settings(**tampering_database.settings)
    holder = await asyncpg.connect(asyncpg_dsn(settings.database_url))

    async def run_and_stop() -> None:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            async with unit_of_work(app.state.runtime.sessions) as session:
                UnitOfWork.of(session).record(actor="staff-0001", action="test.lock")
            await holder.execute("BEGIN; SELECT pg_advisory_xact_lock(7340017)")

    try:
        await asyncio.wait_for(run_and_stop(), timeout=60)  # a hang fails, not stalls
        assert "left to the next start" in capsys.readouterr().out  # the service's JSON log
    finally:
        await holder.close()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass  # the lock released: this start seals, its shutdown anchors
    result = await verify(settings)
    assert result.ok, result
    assert result.anchor is not None
    assert result.anchor.chain_pos == result.checked >= 1
