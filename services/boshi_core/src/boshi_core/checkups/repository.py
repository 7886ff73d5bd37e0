"""Checkup records: the programme versions in force, a child's notices, results and detailed
exam vouchers. Who is due is decided in SQL by predicate.py, for targets.py and
reminder_notices.py."""

from datetime import date
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.checkups.models import (
    CheckupNotice,
    CheckupProgramme,
    CheckupResult,
    DetailedExamVoucher,
)
from boshi_core.checkups.windows import ProgrammeRule


def _rule(row: CheckupProgramme) -> ProgrammeRule:
    return ProgrammeRule(
        code=row.code,
        name=row.name,
        start_months=row.start_months,
        end_months=row.end_months,
        reminder_days_before_end=row.reminder_days_before_end,
        detailed_exam_valid_days=row.detailed_exam_valid_days,
        effective_from=row.effective_from,
    )


async def rules_in_force(session: AsyncSession, on: date) -> list[ProgrammeRule]:
    """Every programme's version in force on `on`, in age order: per programme the newest
    version effective by then, unless that version has ended (`effective_to` before `on`)."""
    rows = (
        (
            await session.execute(
                select(CheckupProgramme)
                .where(CheckupProgramme.effective_from <= on)
                .order_by(CheckupProgramme.code, CheckupProgramme.effective_from.desc())
            )
        )
        .scalars()
        .all()
    )
    latest: dict[str, CheckupProgramme] = {}
    for row in rows:  # newest version first within each code
        latest.setdefault(row.code, row)
    in_force = (r for r in latest.values() if r.effective_to is None or r.effective_to >= on)
    return sorted((_rule(r) for r in in_force), key=lambda r: r.start_months)


async def rule_in_force(session: AsyncSession, code: str, on: date) -> ProgrammeRule | None:
    return next((r for r in await rules_in_force(session, on) if r.code == code), None)


async def notices_of(session: AsyncSession, person_no: str) -> list[CheckupNotice]:
    stmt = (
        select(CheckupNotice)
        .where(CheckupNotice.person_no == person_no)
        .order_by(CheckupNotice.period, CheckupNotice.kind)
    )
    return list((await session.execute(stmt)).scalars())


async def results_of(session: AsyncSession, person_no: str) -> list[CheckupResult]:
    stmt = select(CheckupResult).where(CheckupResult.person_no == person_no)
    return list((await session.execute(stmt)).scalars())


async def next_voucher_serial(session: AsyncSession) -> int:
    return int(
        (await session.execute(text("SELECT nextval('detailed_exam_voucher_seq')"))).scalar_one()
    )


async def vouchers_of(session: AsyncSession, person_no: str) -> list[DetailedExamVoucher]:
    stmt = select(DetailedExamVoucher).where(DetailedExamVoucher.person_no == person_no)
    return list((await session.execute(stmt)).scalars())


async def has_result(session: AsyncSession, person_no: str, programme_code: str) -> bool:
    stmt = select(CheckupResult.id).where(
        CheckupResult.person_no == person_no, CheckupResult.programme_code == programme_code
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def notice_for_update(session: AsyncSession, notice_id: UUID) -> CheckupNotice | None:
    stmt = select(CheckupNotice).where(CheckupNotice.id == notice_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()
