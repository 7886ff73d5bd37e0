import asyncio
import os
import re
import zlib
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.addresses import written_address
from boshi_core.disclosure.pdf import render
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


KITAKYUSHU_ADDRESS = {
    "postal_code": "8030812",
    "prefecture": "福岡県",
    "municipality_code": "401005",
    "ward_code": KOKURA_NORTH,
    "town": "城内",
    "block": "1-1",
    "building": "城内ハイツ101",
}


def test_an_address_is_written_as_a_japanese_address() -> None:
    assert (
        written_address(KITAKYUSHU_ADDRESS)
        == "〒803-0812 福岡県北九州市小倉北区城内1-1 城内ハイツ101"
    )
    # atena's town names mostly carry the ward already; it is not written twice.
    town_with_ward = {**KITAKYUSHU_ADDRESS, "town": "小倉北区城内", "building": None}
    assert written_address(town_with_ward) == "〒803-0812 福岡県北九州市小倉北区城内1-1"
    elsewhere = {
        "prefecture": "東京都",
        "municipality_code": "131016",
        "town": "千代田区丸の内",
        "block": "1-1",
    }
    assert written_address(elsewhere) == "東京都千代田区丸の内1-1"


def flate_streams(pdf: bytes) -> list[bytes]:
    """The PDF's compressed streams, decompressed (page contents among them)."""
    streams = []
    for match in re.finditer(rb"/FlateDecode[^>]*>>\s*stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        streams.append(zlib.decompress(match.group(1)))
    return streams


def test_the_pdf_lines_are_not_spread_over_the_page() -> None:
    """multi_cell justifies by default: a wrapped line (the header, an address) came out with
    wide gaps, drawn word by word with a TJ array; left-aligned lines are plain Tj strings."""
    export = {
        "person_no": "1000000010",
        "exported_at": "2026-12-02T10:01:50.428060+00:00",
        "exported_by": "staff-of-the-kokura-kita-ward-office-health-and-welfare-division-0001",
        "person": {"person_no": "1000000010", "address": KITAKYUSHU_ADDRESS},
    }
    pdf = render(export)
    text = b"".join(s for s in flate_streams(pdf) if b" Tj" in s)
    assert text.count(b" Tj") > 10
    assert b"TJ" not in text
