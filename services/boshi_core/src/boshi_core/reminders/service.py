"""A month's reminder run: every programme's non-attendees, one letter per household (siblings
and twins together), a CSV for the mail contractor, each reminder recorded against its child.

Idempotent and resumable. The run's reminders are inserted first (unique per child, programme,
month and kind), then each household's letter is written and its reminders marked sent in one
transaction. A run that stops half way keeps its row; the next run of the month resumes with
the households still pending, and the CSV is rebuilt from everything the run has sent. A
completed run is not redone. A session-level advisory lock keeps two runs of a month apart.
"""

import asyncio
import csv
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.checkups import repository, sql
from boshi_core.checkups.models import CheckupNotice
from boshi_core.checkups.windows import Period
from boshi_core.people.models import Person
from boshi_core.reminders.letters import (
    DueChild,
    Letter,
    MailingAddress,
    mailing_address,
    render_letters,
)
from boshi_core.reminders.models import ReminderRun
from boshi_core.reminders.progress import Progress
from mch_common.dates import TOKYO, today_tokyo
from mch_common.db import unit_of_work
from mch_common.errors import Conflict
from mch_common.work import UnitOfWork

ACTOR = "batch:boshi_core.reminders"
PURPOSE = "母子保健法第12条・第13条 (checkup reminders 受診勧奨)"
# What the mail contractor needs to print and post, nothing more: no child's name or checkup
# (those are inside the sealed letter), only how many children the letter is about.
CSV_FIELDS = (
    "letter_no",
    "file",
    "page",
    "postal_code",
    "address",
    "addressee",
    "address_source",
    "ward_code",
    "children",
)
_LOCK_BASE = 0x5245_4D00  # "REM\0": per-month advisory lock keys


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


def _lock_key(period: Period) -> int:
    return _LOCK_BASE + period.first.year * 12 + period.first.month


async def _start_run(
    session: AsyncSession, period: Period, out_dir: Path
) -> tuple[ReminderRun, bool]:
    run = (
        await session.execute(
            select(ReminderRun).where(ReminderRun.period == period.first).with_for_update()
        )
    ).scalar_one_or_none()
    if run is None:
        run = ReminderRun(period=period.first, status="running", out_dir=str(out_dir), attempts=1)
        session.add(run)
        await session.flush()
        return run, False
    if run.status != "completed":
        if run.letters_sent and run.out_dir != str(out_dir):
            # The CSV names the letters already written there; one run, one output folder.
            raise Conflict(
                f"the {period} run stopped half way writing to {run.out_dir}; "
                "resume it with that output directory"
            )
        run.status = "running"
        run.attempts += 1
        run.error = None
        run.out_dir = str(out_dir)
    return run, True


async def _insert_reminders(
    session: AsyncSession, run: ReminderRun, period: Period
) -> dict[str, int]:
    added: dict[str, int] = {}
    await repository.without_jit(session)
    for rule in await repository.rules_in_force(session, period.first):
        params = repository.predicate_params(rule, period) | {"run_id": str(run.id)}
        result = await session.execute(sql.INSERT_REMINDERS, params)
        added[rule.code] = int(result.rowcount)  # type: ignore[attr-defined]
    # A child who attended, moved out or died since the run began is not written to.
    await session.execute(
        text(
            """
            DELETE FROM checkup_notices n
            WHERE n.run_id = :run_id AND n.status = 'pending'
              AND (EXISTS (SELECT 1 FROM checkup_results r
                           WHERE r.person_no = n.person_no
                             AND r.programme_code = n.programme_code)
                   OR NOT EXISTS (SELECT 1 FROM people p
                                  WHERE p.person_no = n.person_no
                                    AND p.residence_status = 'resident'
                                    AND p.death_date IS NULL))
            """
        ),
        {"run_id": run.id},
    )
    return added


async def _letter_header(
    session: AsyncSession, child: Person, on: date
) -> tuple[MailingAddress, str]:
    """Where the household's letter goes and to whom: the delivery address's addressee, else
    the mother as the read model knows her, else the child's family as guardian (保護者)."""
    address = mailing_address(child.address, child.delivery_addresses, on)
    if address.addressee:
        return address, address.addressee
    mother = None
    if child.mother_person_no:
        mother = (
            await session.execute(select(Person).where(Person.person_no == child.mother_person_no))
        ).scalar_one_or_none()
    # Without a known mother: 「北九 結菜 保護者 様」, the child's guardian.
    return address, mother.full_name if mother else f"{child.full_name} 保護者"


async def _pending_households(session: AsyncSession, run_id: UUID) -> list[str]:
    rows = await session.execute(
        select(CheckupNotice.household_key)
        .where(CheckupNotice.run_id == run_id, CheckupNotice.status == "pending")
        .distinct()
        .order_by(CheckupNotice.household_key)
    )
    return list(rows.scalars())


async def _build_letter(
    session: AsyncSession,
    run: ReminderRun,
    household_key: str,
    *,
    programme_names: dict[str, str],
    issued_on: date,
) -> tuple[Letter, list[UUID]] | None:
    notices = list(
        (
            await session.execute(
                select(CheckupNotice)
                .where(
                    CheckupNotice.run_id == run.id,
                    CheckupNotice.household_key == household_key,
                    CheckupNotice.status == "pending",
                )
                .order_by(CheckupNotice.person_no, CheckupNotice.window_start)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not notices:
        return None
    person_nos = sorted({n.person_no for n in notices})
    people = {
        p.person_no: p
        for p in (
            await session.execute(select(Person).where(Person.person_no.in_(person_nos)))
        ).scalars()
    }
    first = people[person_nos[0]]
    address, addressee = await _letter_header(session, first, issued_on)
    sent_before = (
        await session.execute(
            select(func.count(func.distinct(CheckupNotice.letter_no))).where(
                CheckupNotice.run_id == run.id,
                CheckupNotice.household_key == household_key,
                CheckupNotice.status == "sent",
            )
        )
    ).scalar_one()
    # Deterministic: a crash between writing the file and committing rewrites the same letter.
    letter_no = f"{run.period:%Y%m}-{household_key}-{int(sent_before) + 1}"
    children = tuple(
        DueChild(
            person_no=n.person_no,
            name=people[n.person_no].full_name,
            # The letter carries the Japanese name only: 「4か月児健康診査 (4-month checkup)」.
            programme_name=programme_names.get(n.programme_code, n.programme_code).split(" (")[0],
            window_start=n.window_start,
            window_end=n.window_end,
        )
        for n in notices
    )
    letter = Letter(
        letter_no=letter_no,
        issued_on=issued_on,
        ward_code=first.ward_code,
        address=address,
        addressee=addressee,
        children=children,
    )
    return letter, [n.id for n in notices]


def _prepare_dir(out_dir: Path) -> None:
    (out_dir / "letters").mkdir(parents=True, exist_ok=True)


def _write_letters(path: Path, letters: list[Letter], font_path: Path | None) -> list[int]:
    data, pages = render_letters(letters, font_path=font_path)
    _write_atomic(path, data)
    return pages


def _write_csv_file(path: Path, rows: list[dict[str, str]]) -> None:
    tmp = path.with_suffix(".csv.part")
    # UTF-8 with BOM: the contractor's spreadsheet tools read Japanese correctly.
    with tmp.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


async def _write_csv(session: AsyncSession, run: ReminderRun, out_dir: Path) -> Path:
    rows = (
        await session.execute(
            select(CheckupNotice, Person)
            .join(Person, Person.person_no == CheckupNotice.person_no)
            .where(CheckupNotice.run_id == run.id, CheckupNotice.status == "sent")
            .order_by(CheckupNotice.letter_no, CheckupNotice.person_no)
        )
    ).all()
    letters: dict[str, dict[str, Any]] = {}
    for notice, person in rows:
        assert notice.letter_no is not None
        entry = letters.setdefault(
            notice.letter_no,
            {"notice": notice, "person": person, "children": []},
        )
        if person.person_no not in entry["children"]:
            entry["children"].append(person.person_no)
    lines: list[dict[str, str]] = []
    for letter_no, entry in letters.items():
        first: Person = entry["person"]
        sent_at: datetime = entry["notice"].sent_at
        address, addressee = await _letter_header(session, first, sent_at.astimezone(TOKYO).date())
        lines.append(
            {
                "letter_no": letter_no,
                "file": entry["notice"].letter_file or "",
                "page": str(entry["notice"].letter_page or ""),
                "postal_code": address.postal_code,
                "address": address.address_line,
                "addressee": addressee,
                "address_source": address.source,
                "ward_code": first.ward_code or "",
                "children": str(len(entry["children"])),
            }
        )
    path = out_dir / f"reminders_{run.period:%Y%m}.csv"
    await asyncio.to_thread(_write_csv_file, path, lines)
    return path


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
    await asyncio.to_thread(_prepare_dir, out_dir)
    started = datetime.now(UTC)
    async with sessions() as lock_session:
        got = (
            await lock_session.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(period)}
            )
        ).scalar_one()
        if not got:
            raise RunInProgress(f"another reminder run for {period} is in progress")
        try:
            return await _run_locked(
                sessions,
                period=period,
                out_dir=out_dir,
                progress_out=progress_out,
                after_letter=after_letter,
                font_path=font_path,
                started=started,
                letters_per_file=letters_per_file,
            )
        finally:
            await lock_session.execute(
                text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(period)}
            )
            await lock_session.commit()


async def _run_locked(
    sessions: async_sessionmaker[AsyncSession],
    *,
    period: Period,
    out_dir: Path,
    progress_out: TextIO | None,
    after_letter: AfterLetter | None,
    font_path: Path | None,
    started: datetime,
    letters_per_file: int,
) -> RunSummary:
    async with unit_of_work(sessions) as session:
        run, resumed = await _start_run(session, period, out_dir)
        run_id = run.id
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
        added = await _insert_reminders(session, run, period)
        rules = await repository.rules_in_force(session, period.first)
        UnitOfWork.of(session).record(
            actor=ACTOR,
            action="checkup.reminder_run.start",
            target_type="reminder_run",
            target_id=str(run.id),
            purpose=PURPOSE,
            detail={"month": str(period), "resumed": resumed, "added": added},
        )
    programme_names = {r.code: r.name for r in rules}
    async with sessions() as session:
        households = await _pending_households(session, run_id)
    progress = Progress(f"reminder letters {period}", len(households), out=progress_out)
    issued_on = today_tokyo()
    sent = 0
    try:
        for start in range(0, len(households), letters_per_file):
            chunk = households[start : start + letters_per_file]
            async with unit_of_work(sessions) as session:
                run = (
                    await session.execute(select(ReminderRun).where(ReminderRun.id == run_id))
                ).scalar_one()
                built: list[tuple[str, Letter, list[UUID]]] = []
                for household_key in chunk:
                    one = await _build_letter(
                        session,
                        run,
                        household_key,
                        programme_names=programme_names,
                        issued_on=issued_on,
                    )
                    if one is not None:
                        built.append((household_key, *one))
                if built:
                    letters = [letter for _, letter, _ in built]
                    # Named after its first letter: a chunk redone after a crash overwrites
                    # its own half-written file, never one whose letters were recorded.
                    file = f"letters/{letters[0].letter_no}.pdf"
                    pages = await asyncio.to_thread(
                        _write_letters, out_dir / file, letters, font_path
                    )
                    for (household, letter, notice_ids), page in zip(built, pages, strict=True):
                        await session.execute(
                            update(CheckupNotice)
                            .where(CheckupNotice.id.in_(notice_ids))
                            .values(
                                status="sent",
                                letter_no=letter.letter_no,
                                letter_file=file,
                                letter_page=page,
                                sent_at=func.now(),
                            )
                        )
                        UnitOfWork.of(session).record(
                            actor=ACTOR,
                            action="checkup.reminder.send",
                            target_type="household",
                            target_id=household,
                            purpose=PURPOSE,
                            detail={
                                "letter_no": letter.letter_no,
                                "file": file,
                                "person_nos": [c.person_no for c in letter.children],
                            },
                        )
                    run.letters_sent += len(built)
            sent += len(built)
            progress.advance(len(chunk))
            if after_letter is not None and built:
                after_letter(sent)
    except BaseException as exc:
        async with unit_of_work(sessions) as session:
            await session.execute(
                update(ReminderRun)
                .where(ReminderRun.id == run_id)
                .values(status="failed", error=f"{type(exc).__name__}: {exc}"[:1000])
            )
        raise
    async with unit_of_work(sessions) as session:
        run = (
            await session.execute(
                select(ReminderRun).where(ReminderRun.id == run_id).with_for_update()
            )
        ).scalar_one()
        csv_path = await _write_csv(session, run, out_dir)
        counts = (
            await session.execute(
                select(CheckupNotice.programme_code, func.count())
                .where(CheckupNotice.run_id == run_id, CheckupNotice.status == "sent")
                .group_by(CheckupNotice.programme_code)
            )
        ).all()
        per_programme = {code: int(n) for code, n in counts}
        run.children = sum(per_programme.values())
        run.households = int(
            (
                await session.execute(
                    select(func.count(func.distinct(CheckupNotice.household_key))).where(
                        CheckupNotice.run_id == run_id, CheckupNotice.status == "sent"
                    )
                )
            ).scalar_one()
        )
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
