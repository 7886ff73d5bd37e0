"""The schedule's rules as stored (every version; `DoseRule.in_force` picks a day's)."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from immunization_bridge.schedule.models import ScheduleRule
from immunization_bridge.schedule.rules import AgeBound, Basis, DoseRule

_ALL_RULES = select(ScheduleRule).order_by(ScheduleRule.id)


def to_rule(row: ScheduleRule) -> DoseRule:
    overdue = (
        None if row.overdue_months is None else AgeBound(row.overdue_months, row.overdue_days or 0)
    )
    return DoseRule(
        vaccine=row.vaccine,
        dose_no=row.dose_no,
        basis=Basis(row.basis),
        start=AgeBound(row.start_months, row.start_days),
        end=AgeBound(row.end_months, row.end_days),
        overdue=overdue,
        interval_from_dose=row.interval_from_dose,
        interval_months=row.interval_months,
        interval_days=row.interval_days,
        effective_from=row.effective_from,
        effective_to=row.effective_to,
    )


async def all_rules(session: AsyncSession) -> list[DoseRule]:
    return [to_rule(row) for row in (await session.execute(_ALL_RULES)).scalars()]


def highest_doses(rules: list[DoseRule]) -> dict[str, int]:
    """Each vaccine the schedule has ever named and its highest dose number: what an imported
    record may name (a record of a superseded version is history, still valid)."""
    highest: dict[str, int] = {}
    for rule in rules:
        highest[rule.vaccine] = max(highest.get(rule.vaccine, 0), rule.dose_no)
    return highest
