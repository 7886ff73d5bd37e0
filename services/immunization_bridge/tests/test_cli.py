"""The operators' commands: files imported in the order named, one JSON report each, exit 2
when lines were rejected; the overdue check's report."""

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from immunization_bridge.cli import import_files, overdue_check
from immunization_bridge.config import Settings
from immunization_bridge.records.models import VaccinationRecord

from .conftest import csv_file


async def test_import_takes_files_in_order_and_reports_each(
    settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],  # empties the tables afterwards
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = tmp_path / "20261201.csv", tmp_path / "20261202.csv"
    first.write_bytes(csv_file("R1,A,1000000008,bcg,1,令和8年6月1日,,", encoding="cp932"))
    second.write_bytes(csv_file("R1,C,1000000008,bcg,1,2026-06-02,,", "R2,A,x,bcg,1,,,"))

    code = await import_files(settings, [first, second, first], operator="cli:test")

    out, err = capsys.readouterr()
    reports = [json.loads(line) for line in out.splitlines()]
    assert code == 2
    assert [(r["accepted"], r["rejected"], r["already_imported"]) for r in reports] == [
        (1, 0, False),
        (1, 1, False),
        (1, 0, True),
    ]
    assert "20261202.csv: 2 lines read, 1 rejected" in err
    async with committed_sessions() as session:
        record = (await session.execute(select(VaccinationRecord))).scalar_one()
    assert record.given_on == date(2026, 6, 2)  # the later file's correction stands

    assert await overdue_check(settings, on=date(2026, 12, 2)) == 0
    assert json.loads(capsys.readouterr().out)["children"] == 0
