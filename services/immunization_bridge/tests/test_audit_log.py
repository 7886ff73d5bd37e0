"""The bridge's audit endpoints, its operators' verifier, and tampering detected against the
anchor."""

from datetime import date
from pathlib import Path
from typing import Any

import httpx

from immunization_bridge.config import Settings
from immunization_bridge.deps import AUDIT_READ
from immunization_bridge.main import create_app
from mch_testing.audit import check_audit_tampering_is_detected, tampering_settings
from mch_testing.plugin import DatabaseFactory

from .conftest import Headers, MakeChild


async def test_the_auditor_reads_a_childs_accesses_and_verifies_the_chain(
    client: httpx.AsyncClient, headers: Headers, make_child: MakeChild
) -> None:
    child = await make_child(date(2026, 1, 31))
    await client.get(f"/children/{child}/status", headers=headers())
    auditor = headers(AUDIT_READ, sub="auditor-01")

    page = await client.get("/admin/audit", headers=auditor, params={"target_id": child})
    verified = await client.get("/admin/audit/verify", headers=auditor)

    assert page.status_code == 200, page.text
    assert [r["action"] for r in page.json()["items"]] == ["status.read"]
    assert verified.json()["ok"] is True
    for path in ("/admin/audit", "/admin/audit/verify"):
        assert (await client.get(path, headers=headers())).status_code == 403


async def test_truncation_and_rewrites_are_detected(
    database_factory: DatabaseFactory,
    migrations_path: Path,
    test_database_name: str,
    service_settings: dict[str, Any],
) -> None:
    url = await database_factory.create(f"{test_database_name}_tamper", migrations_path)
    await check_audit_tampering_is_detected(
        create_app=create_app,
        settings=Settings(**tampering_settings(service_settings, url)),
        owner_url=database_factory.owner_url(url),
    )
