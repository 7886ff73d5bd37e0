"""Queries for reminder runs: the run row, its reminders (checkup notices of kind "reminder"),
the households still to write to, and what the run has sent."""

from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.checkups import predicate, reminder_notices
from boshi_core.checkups import repository as checkups
from boshi_core.checkups.models import CheckupNotice
from boshi_core.checkups.windows import Period
from boshi_core.people.models import Person
from boshi_core.reminders.models import ReminderRun
from boshi_core.suspensions.repository import suspended

_LOCK_BASE = 0x5245_4D00  # "REM\0": per-month advisory lock keys

# A child who attended, moved out or died since the run began, or whose reminders were
# suspended (利用停止), is not written to.
_DROP_STALE = text(
    f"""
    DELETE FROM checkup_notices n
    WHERE n.run_id = :run_id AND n.status = 'pending'
      AND (EXISTS (SELECT 1 FROM checkup_results r
                   WHERE r.person_no = n.person_no
                     AND r.programme_code = n.programme_code)
           OR {suspended("reminders", "n.person_no")}
           OR EXISTS (SELECT 1 FROM previous_city_records pc
                      WHERE pc.person_no = n.person_no
                        AND pc.programme_code = n.programme_code AND pc.taken)
           OR NOT EXISTS (SELECT 1 FROM people p
                          WHERE p.person_no = n.person_no
                            AND p.residence_status = 'resident'
                            AND p.death_date IS NULL))
    """  # noqa: S608 - the suspension condition is a module constant; values are bound
)


def _lock_key(period: Period) -> int:
    return _LOCK_BASE + period.first.year * 12 + period.first.month


async def try_lock_month(session: AsyncSession, period: Period) -> bool:
    """A session-level advisory lock that keeps two runs of a month apart."""
    stmt = text("SELECT pg_try_advisory_lock(:k)")
    return bool((await session.execute(stmt, {"k": _lock_key(period)})).scalar_one())


async def unlock_month(session: AsyncSession, period: Period) -> None:
    await session.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(period)})


async def run_of_month_for_update(session: AsyncSession, period: Period) -> ReminderRun | None:
    stmt = select(ReminderRun).where(ReminderRun.period == period.first).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_run(session: AsyncSession, period: Period, out_dir: Path) -> ReminderRun:
    run = ReminderRun(period=period.first, status="running", out_dir=str(out_dir), attempts=1)
    session.add(run)
    await session.flush()
    return run


async def get_run(session: AsyncSession, run_id: UUID, *, for_update: bool = False) -> ReminderRun:
    stmt = select(ReminderRun).where(ReminderRun.id == run_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one()


async def mark_failed(session: AsyncSession, run_id: UUID, error: str) -> None:
    await session.execute(
        update(ReminderRun).where(ReminderRun.id == run_id).values(status="failed", error=error)
    )


async def insert_reminders(session: AsyncSession, run_id: UUID, period: Period) -> dict[str, int]:
    """Every programme's non-attendees as the run's pending reminders (how many were added per
    programme), then drop the pending ones whose child no longer qualifies."""
    added: dict[str, int] = {}
    await predicate.without_jit(session)
    for rule in await checkups.rules_in_force(session, period.first):
        added[rule.code] = await reminder_notices.insert_reminders(session, rule, period, run_id)
    await session.execute(_DROP_STALE, {"run_id": run_id})
    return added


async def pending_households(session: AsyncSession, run_id: UUID) -> list[str]:
    rows = await session.execute(
        select(CheckupNotice.household_key)
        .where(CheckupNotice.run_id == run_id, CheckupNotice.status == "pending")
        .distinct()
        .order_by(CheckupNotice.household_key)
    )
    return list(rows.scalars())


async def pending_notices_for_update(
    session: AsyncSession, run_id: UUID, household_key: str
) -> list[CheckupNotice]:
    """The household's pending reminders, locked; another process's locked rows are skipped."""
    stmt = (
        select(CheckupNotice)
        .where(
            CheckupNotice.run_id == run_id,
            CheckupNotice.household_key == household_key,
            CheckupNotice.status == "pending",
        )
        .order_by(CheckupNotice.person_no, CheckupNotice.window_start)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).scalars())


async def people_by_number(session: AsyncSession, person_nos: Sequence[str]) -> dict[str, Person]:
    stmt = select(Person).where(Person.person_no.in_(person_nos))
    return {p.person_no: p for p in (await session.execute(stmt)).scalars()}


async def letters_sent_to(session: AsyncSession, run_id: UUID, household_key: str) -> int:
    stmt = select(func.count(func.distinct(CheckupNotice.letter_no))).where(
        CheckupNotice.run_id == run_id,
        CheckupNotice.household_key == household_key,
        CheckupNotice.status == "sent",
    )
    return int((await session.execute(stmt)).scalar_one())


async def mark_sent(
    session: AsyncSession, notice_ids: Sequence[UUID], *, letter_no: str, file: str, page: int
) -> None:
    await session.execute(
        update(CheckupNotice)
        .where(CheckupNotice.id.in_(notice_ids))
        .values(
            status="sent",
            letter_no=letter_no,
            letter_file=file,
            letter_page=page,
            sent_at=func.now(),
        )
    )


async def sent_with_children(
    session: AsyncSession, run_id: UUID
) -> list[tuple[CheckupNotice, Person]]:
    """The run's sent reminders with their children, in letter order."""
    stmt = (
        select(CheckupNotice, Person)
        .join(Person, Person.person_no == CheckupNotice.person_no)
        .where(CheckupNotice.run_id == run_id, CheckupNotice.status == "sent")
        .order_by(CheckupNotice.letter_no, CheckupNotice.person_no)
    )
    return [(notice, person) for notice, person in (await session.execute(stmt)).all()]


async def sent_per_programme(session: AsyncSession, run_id: UUID) -> dict[str, int]:
    stmt = (
        select(CheckupNotice.programme_code, func.count())
        .where(CheckupNotice.run_id == run_id, CheckupNotice.status == "sent")
        .group_by(CheckupNotice.programme_code)
    )
    return {code: int(n) for code, n in (await session.execute(stmt)).all()}


async def households_sent(session: AsyncSession, run_id: UUID) -> int:
    stmt = select(func.count(func.distinct(CheckupNotice.household_key))).where(
        CheckupNotice.run_id == run_id, CheckupNotice.status == "sent"
    )
    return int((await session.execute(stmt)).scalar_one())
