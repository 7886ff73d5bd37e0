"""A month's reminder run: every programme's non-attendees, one letter per household (siblings
and twins together), a list for the mail contractor, each reminder recorded against its child.

Idempotent and resumable. The run's reminders are inserted first (unique per child, programme,
month and kind), then each household's letter is written and its reminders marked sent in one
transaction. A run that stops half way keeps its row; the next run of the month resumes with
the households still pending, and the list is rebuilt from everything the run has sent. A
completed run is not redone. A session-level advisory lock keeps two runs of a month apart.

The steps: `_begin` (the run row and its reminders), `_send_letters` (print files of up to
`letters_per_file` households, each committed with its letters' records), `_complete` (the
mailing list and the run's totals). The letters are drawn in letters.py, each household's letter in
households.py, the list in mailing_list.py, the queries are in repository.py.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.checkups import repository as checkups
from boshi_core.checkups.windows import Period
from boshi_core.reminders import repository
from boshi_core.reminders.households import build_letter, sent_letters
from boshi_core.reminders.letters import (
    Letter,
    write_print_file,
)
from boshi_core.reminders.mailing_list import write_mailing_list
from boshi_core.reminders.models import ReminderRun
from boshi_core.reminders.output import prepare_dir
from boshi_core.reminders.progress import Progress
from mch_common.dates import today_tokyo
from mch_common.db import unit_of_work
from mch_common.errors import Conflict
from mch_common.work import UnitOfWork

ACTOR = "batch:boshi_core.reminders"
PURPOSE = "母子保健法第12条・第13条 (checkup reminders 受診勧奨)"


@dataclass
class RunSummary:
    run_id: UUID
    month: str
    status: str
    resumed: bool
    children: int
    households: int
    letters_sent: int
    letters_this_attempt: int
    csv_path: str | None
    seconds: float = 0.0
    per_programme: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": str(self.run_id),
            "month": self.month,
            "status": self.status,
            "resumed": self.resumed,
            "children": self.children,
            "households": self.households,
            "letters_sent": self.letters_sent,
            "letters_this_attempt": self.letters_this_attempt,
            "csv": self.csv_path,
            "seconds": round(self.seconds, 2),
            "per_programme": self.per_programme,
        }


class RunInProgress(Conflict):
    """Another process holds this month's run."""


AfterLetter = Callable[[int], None]


async def run_reminders(
    sessions: async_sessionmaker[AsyncSession],
    *,
    period: Period,
    out_dir: Path,
    progress_out: TextIO | None = None,
    after_letter: AfterLetter | None = None,
    font_path: Path | None = None,
    letters_per_file: int = 100,
) -> RunSummary:
    """Run (or resume) the month's reminders into `out_dir`: letters in print files of up to
    `letters_per_file` households, each file and its letters' records committed together.
    `after_letter(n)` is called after each commit with the letters sent so far in this attempt
    (tests use it to simulate a crash half way)."""
    if letters_per_file < 1:
        raise ValueError("letters_per_file must be at least 1")
    await asyncio.to_thread(prepare_dir, out_dir)
    started = datetime.now(UTC)
    async with sessions() as lock_session:
        if not await repository.try_lock_month(lock_session, period):
            raise RunInProgress(f"another reminder run for {period} is in progress")
        try:
            begun = await _begin(sessions, period=period, out_dir=out_dir)
            if isinstance(begun, RunSummary):
                return begun  # completed before: not redone
            run_id, resumed, programme_names = begun
            sent = await _send_letters(
                sessions,
                run_id=run_id,
                period=period,
                out_dir=out_dir,
                programme_names=programme_names,
                progress_out=progress_out,
                after_letter=after_letter,
                font_path=font_path,
                letters_per_file=letters_per_file,
            )
            return await _complete(
                sessions,
                run_id=run_id,
                period=period,
                out_dir=out_dir,
                resumed=resumed,
                sent=sent,
                started=started,
            )
        finally:
            await repository.unlock_month(lock_session, period)
            await lock_session.commit()


async def _start_run(
    session: AsyncSession, period: Period, out_dir: Path
) -> tuple[ReminderRun, bool]:
    """The month's run row, new or resumed (locked until commit), and whether it is resumed."""
    run = await repository.run_of_month_for_update(session, period)
    if run is None:
        return await repository.add_run(session, period, out_dir), False
    if run.status != "completed":
        if run.letters_sent and run.out_dir != str(out_dir):
            # The list names the letters already written there; one run, one output folder.
            raise Conflict(
                f"the {period} run stopped half way writing to {run.out_dir}; "
                "resume it with that output directory"
            )
        run.status = "running"
        run.attempts += 1
        run.error = None
        run.out_dir = str(out_dir)
    return run, True


async def _begin(
    sessions: async_sessionmaker[AsyncSession], *, period: Period, out_dir: Path
) -> tuple[UUID, bool, dict[str, str]] | RunSummary:
    """Start or resume the run and insert its reminders: the run's id, whether it resumes, and
    the programmes' names; or the summary of a run completed before."""
    async with unit_of_work(sessions) as session:
        run, resumed = await _start_run(session, period, out_dir)
        if run.status == "completed":
            return RunSummary(
                run_id=run.id,
                month=str(period),
                status="completed",
                resumed=False,
                children=run.children,
                households=run.households,
                letters_sent=run.letters_sent,
                letters_this_attempt=0,
                csv_path=run.summary.get("csv"),
                per_programme=run.summary.get("per_programme", {}),
            )
        added = await repository.insert_reminders(session, run.id, period)
        rules = await checkups.rules_in_force(session, period.first)
        UnitOfWork.of(session).record(
            actor=ACTOR,
            action="checkup.reminder_run.start",
            target_type="reminder_run",
            target_id=str(run.id),
            purpose=PURPOSE,
            detail={"month": str(period), "resumed": resumed, "added": added},
        )
        return run.id, resumed, {r.code: r.name for r in rules}


async def _send_file(
    session: AsyncSession,
    *,
    run_id: UUID,
    households: list[str],
    out_dir: Path,
    programme_names: dict[str, str],
    issued_on: date,
    font_path: Path | None,
) -> int:
    """One print file with the letters of `households` still pending, its reminders marked
    sent and each letter's access record queued; returns the letters written."""
    run = await repository.get_run(session, run_id)
    built: list[tuple[str, Letter, list[UUID]]] = []
    for household_key in households:
        one = await build_letter(
            session,
            run_id,
            run.period,
            household_key,
            programme_names=programme_names,
            issued_on=issued_on,
        )
        if one is not None:
            built.append((household_key, *one))
    if not built:
        return 0
    letters = [letter for _, letter, _ in built]
    # Named after its first letter: a chunk redone after a crash overwrites its own
    # half-written file, never one whose letters were recorded.
    file = f"letters/{letters[0].letter_no}.pdf"
    pages = await asyncio.to_thread(write_print_file, out_dir / file, letters, font_path=font_path)
    for (household, letter, notice_ids), page in zip(built, pages, strict=True):
        await repository.mark_sent(
            session, notice_ids, letter_no=letter.letter_no, file=file, page=page
        )
        UnitOfWork.of(session).record(
            actor=ACTOR,
            action="checkup.reminder.send",
            target_type="household",
            target_id=household,
            purpose=PURPOSE,
            detail={"letter_no": letter.letter_no, "file": file},
            persons=[c.person_no for c in letter.children],
        )
    run.letters_sent += len(built)
    return len(built)


async def _send_letters(
    sessions: async_sessionmaker[AsyncSession],
    *,
    run_id: UUID,
    period: Period,
    out_dir: Path,
    programme_names: dict[str, str],
    progress_out: TextIO | None,
    after_letter: AfterLetter | None,
    font_path: Path | None,
    letters_per_file: int,
) -> int:
    """Every pending household's letter, a print file per transaction; returns the letters
    sent in this attempt. A failure marks the run failed (to be resumed) and is re-raised."""
    async with sessions() as session:
        households = await repository.pending_households(session, run_id)
    progress = Progress(f"reminder letters {period}", len(households), out=progress_out)
    issued_on = today_tokyo()
    sent = 0
    try:
        for start in range(0, len(households), letters_per_file):
            chunk = households[start : start + letters_per_file]
            async with unit_of_work(sessions) as session:
                written = await _send_file(
                    session,
                    run_id=run_id,
                    households=chunk,
                    out_dir=out_dir,
                    programme_names=programme_names,
                    issued_on=issued_on,
                    font_path=font_path,
                )
            sent += written
            progress.advance(len(chunk))
            if after_letter is not None and written:
                after_letter(sent)
    except BaseException as exc:
        async with unit_of_work(sessions) as session:
            await repository.mark_failed(session, run_id, f"{type(exc).__name__}: {exc}"[:1000])
        raise
    return sent


async def _complete(
    sessions: async_sessionmaker[AsyncSession],
    *,
    run_id: UUID,
    period: Period,
    out_dir: Path,
    resumed: bool,
    sent: int,
    started: datetime,
) -> RunSummary:
    """The mailing list of everything the run has sent, and the run's totals; the run is
    completed."""
    async with unit_of_work(sessions) as session:
        run = await repository.get_run(session, run_id, for_update=True)
        csv_path = out_dir / f"reminders_{run.period:%Y%m}.csv"
        letters = await sent_letters(session, run_id)
        await asyncio.to_thread(write_mailing_list, csv_path, letters)
        per_programme = await repository.sent_per_programme(session, run_id)
        run.children = sum(per_programme.values())
        run.households = await repository.households_sent(session, run_id)
        run.status = "completed"
        run.finished_at = datetime.now(UTC)
        run.summary = {"csv": str(csv_path), "per_programme": per_programme}
        summary = RunSummary(
            run_id=run_id,
            month=str(period),
            status="completed",
            resumed=resumed,
            children=run.children,
            households=run.households,
            letters_sent=run.letters_sent,
            letters_this_attempt=sent,
            csv_path=str(csv_path),
            per_programme=per_programme,
            seconds=(datetime.now(UTC) - started).total_seconds(),
        )
        UnitOfWork.of(session).record(
            actor=ACTOR,
            action="checkup.reminder_run.complete",
            target_type="reminder_run",
            target_id=str(run_id),
            purpose=PURPOSE,
            detail=summary.as_dict(),
        )
    return summary
