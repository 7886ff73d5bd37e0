"""Queries for checkups: programme versions, notices, results."""

from datetime import date
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.checkups import sql
from boshi_core.checkups.models import CheckupNotice, CheckupProgramme, CheckupResult
from boshi_core.checkups.windows import Period, ProgrammeRule
from boshi_core.people.models import Person


def _rule(row: CheckupProgramme) -> ProgrammeRule:
    return ProgrammeRule(
        code=row.code,
        name=row.name,
        start_months=row.start_months,
        end_months=row.end_months,
        reminder_days_before_end=row.reminder_days_before_end,
        effective_from=row.effective_from,
    )


async def rules_in_force(session: AsyncSession, on: date) -> list[ProgrammeRule]:
    """Every programme's version in force on `on`, in age order."""
    rows = (
        (
            await session.execute(
                select(CheckupProgramme)
                .where(
                    CheckupProgramme.effective_from <= on,
                    or_(
                        CheckupProgramme.effective_to.is_(None), CheckupProgramme.effective_to >= on
                    ),
                )
                .order_by(CheckupProgramme.code, CheckupProgramme.effective_from.desc())
            )
        )
        .scalars()
        .all()
    )
    latest: dict[str, CheckupProgramme] = {}
    for row in rows:  # newest version first within each code
        latest.setdefault(row.code, row)
    return sorted((_rule(r) for r in latest.values()), key=lambda r: r.start_months)


async def rule_in_force(session: AsyncSession, code: str, on: date) -> ProgrammeRule | None:
    return next((r for r in await rules_in_force(session, on) if r.code == code), None)


def predicate_params(rule: ProgrammeRule, period: Period) -> dict[str, Any]:
    return {
        "code": rule.code,
        "start_months": rule.start_months,
        "end_months": rule.end_months,
        "reminder_days": rule.reminder_days_before_end,
        "m1": period.first,
        "ml": period.last,
    }


async def without_jit(session: AsyncSession) -> None:
    # These are index-driven queries over a few cohorts; PostgreSQL's cost estimate for the
    # correlated EXISTS checks triggers JIT compilation that costs more than the query itself.
    await session.execute(text("SET LOCAL jit = off"))


async def extract_invitations(session: AsyncSession, rule: ProgrammeRule, period: Period) -> int:
    await without_jit(session)
    result = await session.execute(sql.EXTRACT_INVITATIONS, predicate_params(rule, period))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def non_attendees(
    session: AsyncSession, rule: ProgrammeRule, period: Period, *, ward_code: str | None
) -> list[dict[str, Any]]:
    await without_jit(session)
    params = predicate_params(rule, period)
    if ward_code is None:
        stmt = sql.NON_ATTENDEES
    else:
        stmt, params["ward_code"] = sql.NON_ATTENDEES_IN_WARD, ward_code
    return [dict(row) for row in (await session.execute(stmt, params)).mappings()]


async def invitations(
    session: AsyncSession, rule: ProgrammeRule, period: Period, *, ward_code: str | None
) -> list[tuple[CheckupNotice, Person | None]]:
    stmt = (
        select(CheckupNotice, Person)
        .join(Person, Person.person_no == CheckupNotice.person_no, isouter=True)
        .where(
            CheckupNotice.programme_code == rule.code,
            CheckupNotice.period == period.first,
            CheckupNotice.kind == "invitation",
        )
        .order_by(CheckupNotice.ward_code, CheckupNotice.household_key, CheckupNotice.person_no)
    )
    if ward_code is not None:
        stmt = stmt.where(Person.ward_code == ward_code)
    return [(n, p) for n, p in (await session.execute(stmt))]


async def profile_statuses(
    session: AsyncSession, rule: ProgrammeRule, period: Period, person_no: str
) -> dict[str, Any] | None:
    params = predicate_params(rule, period) | {"person_no": person_no}
    row = (await session.execute(sql.PROFILE, params)).mappings().first()
    return dict(row) if row else None


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
