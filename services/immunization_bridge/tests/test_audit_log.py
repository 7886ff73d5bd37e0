"""The bridge's audit endpoints, its operators' verifier, and tampering detected against the
anchor."""

from datetime import date

import httpx

from immunization_bridge.config import Settings
from immunization_bridge.deps import AUDIT_READ
from immunization_bridge.main import create_app
from mch_testing.audit import TamperingDatabase, check_the_chain_verifies_for_auditors_only

from .conftest import Headers, MakeChild


async def test_the_auditor_reads_a_childs_accesses_and_verifies_the_chain(
    client: httpx.AsyncClient, headers: Headers, make_child: MakeChild
) -> None:
    child = await make_child(date(2026, 1, 31))
    await client.get(f"/children/{child}/status", headers=headers())
    auditor = headers(AUDIT_READ, sub="auditor-01")

    page = await client.get("/admin/audit", headers=auditor, params={"target_id": child})

    assert page.status_code == 200, page.text
    assert [r["action"] for r in page.json()["items"]] == ["status.read"]
    await check_the_chain_verifies_for_auditors_only(client, auditor=auditor, unscoped=headers())


async def test_truncation_and_rewrites_are_detected(
    tampering_database: TamperingDatabase,
) -> None:
    await tampering_database.check_detected(create_app, Settings(**tampering_database.settings))
