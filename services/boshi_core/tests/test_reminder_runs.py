"""Reminder runs are idempotent and resumable: a crash half way, then a re-run, sends every
letter exactly once and misses nobody."""

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.checkups.models import CheckupNotice
from boshi_core.checkups.windows import Period
from boshi_core.reminders.letters import mailing_address
from boshi_core.reminders.models import ReminderRun
from boshi_core.reminders.progress import Progress
from boshi_core.reminders.service import run_reminders
from boshi_core.testsupport import Resident
from mch_common.errors import Conflict

# The seeded checkup programmes (restored if a committed test emptied them).
pytestmark = pytest.mark.usefixtures("programmes")

SEPTEMBER = Period.parse("2026-09")


class Crash(RuntimeError):
    pass


def crash_after(n: int) -> Callable[[int], None]:
    def hook(sent: int) -> None:
        if sent >= n:
            raise Crash(f"simulated crash after {n} letters")

    return hook


async def _households(resident: Resident, count: int) -> set[str]:
    children: set[str] = set()
    for i in range(count):
        # Born in the first half of April 2026: 4m reminder point in September.
        person_no = f"21000000{i:02d}"
        await resident(person_no, f"2026-04-{i + 1:02d}", household_no=f"H21{i:02d}")
        children.add(person_no)
    # Siblings at the last household: a 1y6m child due too (born 30 Nov 2024).
    await resident("2100000099", "2024-11-30", household_no=f"H21{count - 1:02d}")
    children.add("2100000099")
    return children


@pytest.mark.parametrize(
    ("per_file", "sent_before_crash", "files"),
    [(1, 3, 6), (4, 4, 2)],  # one letter per file; print files of four households
)
async def test_crash_half_way_then_resume_sends_once_and_misses_nobody(
    resident: Resident,
    sessions: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    tmp_path: Path,
    per_file: int,
    sent_before_crash: int,
    files: int,
) -> None:
    children = await _households(resident, 6)
    progress = io.StringIO()
    with pytest.raises(Crash):
        await run_reminders(
            sessions,
            period=SEPTEMBER,
            out_dir=tmp_path,
            after_letter=crash_after(3),
            progress_out=progress,
            letters_per_file=per_file,
        )
    run = (await db_session.execute(select(ReminderRun))).scalar_one()
    await db_session.refresh(run)
    assert run.status == "failed"
    assert run.letters_sent == sent_before_crash
    assert "Crash" in (run.error or "")
    assert len(list((tmp_path / "letters").glob("*.pdf"))) == -(-sent_before_crash // per_file)

    summary = await run_reminders(
        sessions,
        period=SEPTEMBER,
        out_dir=tmp_path,
        progress_out=progress,
        letters_per_file=per_file,
    )
    assert summary.resumed
    assert summary.letters_this_attempt == 6 - sent_before_crash
    assert summary.letters_sent == 6
    assert summary.households == 6
    assert summary.children == 7

    notices = list(
        (
            await db_session.execute(select(CheckupNotice).where(CheckupNotice.kind == "reminder"))
        ).scalars()
    )
    assert {n.person_no for n in notices} == children  # nobody missed
    assert len(notices) == len(children)  # nobody twice
    assert all(n.status == "sent" for n in notices)
    letters = sorted(p.name for p in (tmp_path / "letters").glob("*"))
    assert len(letters) == files
    assert not [name for name in letters if name.endswith(".part")]
    with (tmp_path / "reminders_202609.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    assert len({r["letter_no"] for r in rows}) == 6
    assert len({(r["file"], r["page"]) for r in rows}) == 6  # each letter its own pages
    assert all((tmp_path / r["file"]).exists() for r in rows)
    siblings = next(r for r in rows if r["letter_no"].startswith("202609-H2105-"))
    assert siblings["children"] == "2"

    # A third run of the month is a no-op.
    again = await run_reminders(sessions, period=SEPTEMBER, out_dir=tmp_path)
    assert again.status == "completed"
    assert again.letters_this_attempt == 0
    count = (await db_session.execute(select(func.count()).select_from(CheckupNotice))).scalar_one()
    assert count == len(children)
    left = 6 - sent_before_crash
    assert f"reminder letters 2026-09: {left}/{left} (100.0%)" in progress.getvalue()


async def test_next_month_does_not_remind_again(
    resident: Resident,
    sessions: async_sessionmaker[AsyncSession],
    db_session: AsyncSession,
    tmp_path: Path,
) -> None:
    await resident("2200000001", "2026-04-15")
    first = await run_reminders(sessions, period=SEPTEMBER, out_dir=tmp_path / "09")
    second = await run_reminders(sessions, period=Period.parse("2026-10"), out_dir=tmp_path / "10")
    assert first.children == 1
    assert second.children == 0
    assert second.letters_sent == 0


def test_mailing_address_prefers_a_valid_mch_delivery_address() -> None:
    resident_address = {
        "postal_code": "8030812",
        "prefecture": "福岡県",
        "municipality_code": "401005",
        "town": "小倉北区城内",
        "block": "1-1",
    }
    delivery: list[dict[str, Any]] = [
        {
            "purpose": "tax",
            "postal_code": "1000001",
            "address_line": "東京都千代田区1",
            "addressee": "税 太郎",
            "valid_from": "2020-01-01",
            "valid_to": None,
        },
        {
            "purpose": "boshi",
            "postal_code": "8020001",
            "address_line": "北九州市小倉北区浅野1-1",
            "addressee": "北九 花子",
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
        },
    ]
    chosen = mailing_address(resident_address, delivery, Period.parse("2026-09").first)
    assert (chosen.postal_code, chosen.addressee, chosen.source) == (
        "8020001",
        "北九 花子",
        "delivery",
    )
    expired = mailing_address(resident_address, delivery, Period.parse("2027-02").first)
    assert expired.source == "resident"
    assert expired.address_line == "福岡県北九州市小倉北区城内1-1"


def test_progress_reports_rate_and_time_left() -> None:
    out = io.StringIO()
    progress = Progress("letters", 4, out=out, every_seconds=0)
    progress.advance()
    progress.advance(3)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("letters: 1/4 (25.0%)")
    assert "/s, about" in lines[0]
    assert lines[-1].startswith("letters: 4/4 (100.0%)")
    assert progress.summary().startswith("letters: 4 done in")


async def test_a_half_done_run_resumes_only_into_its_own_folder(
    resident: Resident,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    await _households(resident, 3)
    with pytest.raises(Crash):
        await run_reminders(
            sessions, period=SEPTEMBER, out_dir=tmp_path / "a", after_letter=crash_after(1)
        )
    with pytest.raises(Conflict, match="resume it with that output directory"):
        await run_reminders(sessions, period=SEPTEMBER, out_dir=tmp_path / "b")
    done = await run_reminders(sessions, period=SEPTEMBER, out_dir=tmp_path / "a")
    assert done.letters_sent == 3
