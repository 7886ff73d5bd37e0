"""The inbox folder: files dropped there are imported once, in name order, and moved to done/
or failed/ with a report; a file still being written is left alone; a restart between the
import and the move takes nothing twice."""

import asyncio
import json
import os
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from immunization_bridge.cli import import_files, watch_inbox
from immunization_bridge.config import Settings
from immunization_bridge.records.inbox import sweep, waiting_files
from immunization_bridge.records.models import ImportFile, VaccinationRecord

from .conftest import csv_file

TODAY = date(2026, 12, 2)
CHILD = "1000000008"


def drop(inbox: Path, name: str, data: bytes, *, age: float = 60.0) -> Path:
    path = inbox / name
    path.write_bytes(data)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


async def count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_files_are_imported_in_name_order_and_moved_with_a_report(
    committed_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    drop(tmp_path, "20261202.csv", csv_file(f"R1,C,{CHILD},bcg,1,2026-06-02,,"))
    drop(
        tmp_path,
        "20261201.csv",
        csv_file(f"R1,A,{CHILD},bcg,1,令和8年6月1日,,", "R2,A,x,bcg,1,,,", encoding="cp932"),
    )
    drop(tmp_path, "20261203.csv", b"not,the,header\r\n")
    drop(tmp_path, ".hidden.csv", csv_file())
    drop(tmp_path, "20261204.csv.part", csv_file())  # still being copied
    drop(tmp_path, "20261205.csv", csv_file(), age=0.0)  # just written: not settled yet
    progress: list[str] = []

    results = await sweep(
        committed_sessions,
        tmp_path,
        actor="system:inbox",
        today=lambda: TODAY,
        on_progress=progress.append,
    )

    assert [(r.filename, r.outcome) for r in results] == [
        ("20261201.csv", "done"),
        ("20261202.csv", "done"),  # the correction applies after the add: file order
        ("20261203.csv", "failed"),
    ]
    assert files_in(tmp_path) == [
        ".hidden.csv",
        "20261204.csv.part",
        "20261205.csv",
    ]
    report = json.loads((tmp_path / "done" / "20261201.csv.report.json").read_text("utf-8"))
    assert (report["accepted"], report["rejected"], report["encoding"]) == (1, 1, "cp932")
    assert report["errors"] == [
        {
            "line": 3,
            "field": "person_no",
            "reason": "not a person number (10 digits with check digit)",
        }
    ]
    assert CHILD not in (tmp_path / "done" / "20261201.csv.report.json").read_text("utf-8")
    failed = json.loads((tmp_path / "failed" / "20261203.csv.report.json").read_text("utf-8"))
    assert failed["errors"][0]["field"] == "header"
    assert (tmp_path / "failed" / "20261203.csv").exists()
    async with committed_sessions() as session:
        record = (await session.execute(select(VaccinationRecord))).scalar_one()
    assert record.given_on == date(2026, 6, 2)
    assert "20261203.csv: failed (0 kept, 1 rejected)" in progress


async def test_a_restart_between_import_and_move_takes_nothing_twice(
    settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = drop(tmp_path, "20261201.csv", csv_file(f"R1,A,{CHILD},bcg,1,2026-06-01,,"))
    # The import committed, then the process stopped before the move.
    assert await import_files(settings, [path], operator="system:inbox") == 0
    capsys.readouterr()

    code = await watch_inbox(settings, tmp_path, operator="system:inbox", interval=0.1, once=True)

    assert code == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["outcome"] == "done"
    assert json.loads(line)["already_imported"] is True
    assert (tmp_path / "done" / "20261201.csv").exists()
    assert await count(committed_sessions, ImportFile) == 1
    assert await count(committed_sessions, VaccinationRecord) == 1

    # The same name again with other bytes: kept apart, not over the first.
    first = (tmp_path / "done" / "20261201.csv").read_bytes()
    drop(tmp_path, "20261201.csv", csv_file(f"R2,A,{CHILD},mr,1,2026-06-01,,"))
    (again,) = await sweep(committed_sessions, tmp_path, actor="t", today=lambda: TODAY)
    assert again.moved_to.name == f"20261201.{again.report.file_id}.csv"
    assert again.moved_to.with_name(again.moved_to.name + ".report.json").exists()
    assert (tmp_path / "done" / "20261201.csv").read_bytes() == first


async def test_the_watcher_keeps_sweeping_until_stopped(
    settings: Settings,
    committed_sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    stop = asyncio.Event()
    watcher = asyncio.create_task(
        watch_inbox(
            settings,
            tmp_path,
            operator="system:inbox",
            interval=0.05,
            once=False,
            settle_seconds=0.0,
            stop=stop,
        )
    )
    await asyncio.sleep(0.2)
    (tmp_path / "late.csv").write_bytes(csv_file(f"R1,A,{CHILD},bcg,1,2026-06-01,,"))
    for _ in range(100):
        if (tmp_path / "done" / "late.csv").exists():
            break
        await asyncio.sleep(0.05)
    stop.set()

    assert await asyncio.wait_for(watcher, timeout=5) == 0
    assert (tmp_path / "done" / "late.csv").exists()
    assert await count(committed_sessions, VaccinationRecord) == 1


def test_a_file_still_being_written_waits(tmp_path: Path) -> None:
    fresh = drop(tmp_path, "a.csv", b"x", age=0.0)

    assert waiting_files(tmp_path, settle_seconds=2.0) == []
    assert waiting_files(tmp_path, settle_seconds=2.0, now=time.time() + 5) == [fresh]
