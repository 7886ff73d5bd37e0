"""atena's audit endpoints, its operators' verifier, and tampering detected against the anchor."""

from typing import Any

import httpx

from atena.config import Settings
from atena.main import create_app
from atena.testing import Headers
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
