"""e_application's audit endpoints, its operators' verifier, and tampering detected against
the anchor."""

import httpx

from e_application.config import Settings
from e_application.deps import AUDIT_READ
from e_application.main import create_app
from mch_testing.audit import TamperingDatabase, check_the_chain_verifies_for_auditors_only

from .conftest import Headers, MakeApplicant, submit


async def test_the_auditor_reads_an_applications_accesses_and_verifies_the_chain(
    client: httpx.AsyncClient, headers: Headers, make_applicant: MakeApplicant
) -> None:
    receipt = (await submit(client, make_applicant().package())).json()
    await client.get(f"/applications/{receipt['application_id']}", headers=headers())
    auditor = headers(AUDIT_READ, sub="auditor-01", dept="監査課")

    page = await client.get(
        "/admin/audit", headers=auditor, params={"target_id": receipt["application_id"]}
    )

    assert page.status_code == 200, page.text
    assert [r["action"] for r in page.json()["items"]] == ["application.open", "application.submit"]
    await check_the_chain_verifies_for_auditors_only(client, auditor=auditor, unscoped=headers())


async def test_truncation_and_rewrites_are_detected(
    tampering_database: TamperingDatabase,
) -> None:
    await tampering_database.check_detected(create_app, Settings(**tampering_database.settings))
