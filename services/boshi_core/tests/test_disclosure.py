import asyncio
import os
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.testsupport import KOKURA_NORTH, YAHATA_WEST, Auth, Register, notification
from mch_common.audit import AuditRecord
from mch_common.dates import today_tokyo

MOTHER = "1000000010"


async def test_disclosure_exports_everything_as_json_and_pdf(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    created = await client.post("/pregnancies", json=notification(), headers=auth())
    pregnancy_id = created.json()["id"]
    await client.post(
        f"/pregnancies/{pregnancy_id}/handbooks", json={"ward_code": KOKURA_NORTH}, headers=auth()
    )
    await client.post(
        f"/pregnancies/{pregnancy_id}/checkups",
        json={
            "checkup_date": today_tokyo().isoformat(),
            "gestational_weeks": 10,
            "systolic_bp": 120,
            "diastolic_bp": 70,
            "findings": "経過良好",
        },
        headers=auth(),
    )
    response = await client.get(f"/people/{MOTHER}/disclosure", headers=auth())
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["person"]["family_name"] == "北九"
    assert len(export["pregnancies"]) == 1
    assert len(export["handbooks"]) == 1
    assert len(export["vouchers"]) == 14
    assert export["prenatal_checkups"][0]["findings"] == "経過良好"
    assert {r["action"] for r in export["access_log"]} >= {"pregnancy.open", "handbook.issue"}

    pdf = await client.get(f"/people/{MOTHER}/disclosure.pdf", headers=auth())
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert b"FontFile2" in pdf.content  # the TrueType font is embedded
    if out := os.environ.get("BOSHI_DISCLOSURE_PDF_OUT"):
        await asyncio.to_thread(Path(out).write_bytes, pdf.content)
    exports = (
        (
            await db_session.execute(
                select(AuditRecord).where(AuditRecord.action == "disclosure.export")
            )
        )
        .scalars()
        .all()
    )
    assert [r.target_id for r in exports] == [MOTHER, MOTHER]


async def test_disclosure_needs_its_scope_and_the_ward(
    client: httpx.AsyncClient, auth: Auth, register: Register
) -> None:
    await register(MOTHER)
    no_scope = auth(("boshi:pregnancy:read",))
    assert (await client.get(f"/people/{MOTHER}/disclosure", headers=no_scope)).status_code == 403
    other_ward = auth(ward=YAHATA_WEST)
    # Another ward's resident is answered as nobody (a refusal tells no more than a miss).
    assert (await client.get(f"/people/{MOTHER}/disclosure", headers=other_ward)).status_code == 404
    unknown = await client.get("/people/1999999990/disclosure", headers=auth())
    assert unknown.status_code == 404
