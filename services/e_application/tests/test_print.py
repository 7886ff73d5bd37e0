"""The application printed as the paper form: a PDF in Japanese with the font embedded, the
items of 別添1 in order, the verification result, and never the My Number."""

import asyncio
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from e_application.deps import APPLICATION_READ
from mch_common.audit import AuditRecord

from .conftest import Headers, MakeApplicant, submit


async def test_the_print_is_a_japanese_pdf_without_the_my_number(
    client: httpx.AsyncClient,
    make_applicant: MakeApplicant,
    headers: Headers,
    tmp_path: Path,
    db_session: AsyncSession,
) -> None:
    applicant = make_applicant()
    receipt = (await submit(client, applicant.package())).json()

    printed = await client.get(
        f"/applications/{receipt['application_id']}/print", headers=headers(APPLICATION_READ)
    )

    assert printed.status_code == 200, printed.text
    assert printed.headers["content-type"] == "application/pdf"
    pdf = printed.content
    assert pdf.startswith(b"%PDF")
    assert b"/FontFile2" in pdf  # IPAex Gothic embedded
    assert applicant.my_number.encode() not in pdf
    actions = (
        await db_session.execute(
            select(AuditRecord.action).where(AuditRecord.target_id == receipt["application_id"])
        )
    ).scalars()
    assert "application.print" in set(actions)
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is not installed: the PNG is not rendered")
    assert await asyncio.to_thread(_render, pdf, tmp_path)


def _render(pdf: bytes, folder: Path) -> list[Path]:
    """The pages as PNG (pdftoppm), to look at."""
    (folder / "application.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(folder / "application.pdf"), str(folder / "page")],
        check=True,
    )
    return list(folder.glob("page*.png"))
