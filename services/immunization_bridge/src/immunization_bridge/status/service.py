"""A child's dose statuses, the overdue check (a daily or monthly run) and the overdue list per
ward. Statuses are computed from the rules and the record history, never stored as truth: the
overdue table holds only what the last run found, for the list and the event."""

import calendar
from collections.abc import Callable
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from immunization_bridge import events
from immunization_bridge.children import repository as children
from immunization_bridge.children.models import Child
from immunization_bridge.schedule.repository import all_rules
from immunization_bridge.schedule.rules import DoseGiven, Schedule, dose_statuses
from immunization_bridge.status import repository
from immunization_bridge.status.schemas import (
    ChildStatusOut,
    DoseStatusOut,
    OverdueItemOut,
    OverduePageOut,
    OverdueRunOut,
    RecordOut,
)
from mch_common.auth.deps import ensure_ward_access
from mch_common.auth.principal import Principal
from mch_common.errors import InvalidInput, NotFound
from mch_common.refusals import ensure_ward_access_as_miss
from mch_common.work import UnitOfWork

OVERDUE_RUN_ACTOR = "system:overdue-check"
PROGRESS_EVERY = 20_000


async def child_in_scope(session: AsyncSession, principal: Principal, person_no: str) -> Child:
    miss = (
        f"person {person_no} is not in the child register: atena has not described them "
        "(or its event has not arrived yet)"
    )
    child = await children.get(session, person_no)
    if child is None:
        raise NotFound(miss)
    # Another ward's child is answered as unknown: a refusal tells no more than a miss.
    ensure_ward_access_as_miss(principal, child.ward_code, miss=miss)
    return child


async def child_status(
    session: AsyncSession, *, principal: Principal, person_no: str, on: date, purpose: str
) -> ChildStatusOut:
    child = await child_in_scope(session, principal, person_no)
    status = await status_of(session, child, on)
    UnitOfWork.of(session).record_access(
        principal,
        action="status.read",
        target_type="person",
        target_id=person_no,
        purpose=purpose,
    )
    return status


async def status_of(session: AsyncSession, child: Child, on: date) -> ChildStatusOut:
    records = [r for r in await repository.records_of(session, child.person_no) if not r.deleted]
    doses = dose_statuses(
        birth=child.birth_date,
        rules=await all_rules(session),
        given=[DoseGiven(r.vaccine, r.dose_no, r.given_on) for r in records],
        on=on,
        resident=child.resident,
    )
    return ChildStatusOut(
        person_no=child.person_no,
        birth_date=child.birth_date,
        residence_status=child.residence_status,
        on=on,
        doses=[
            DoseStatusOut(
                vaccine=d.vaccine,
                dose_no=d.dose_no,
                status=d.state,
                window_start=d.window_start,
                overdue_from=d.overdue_from,
                last_day=d.last_day,
                given_on=d.given_on,
            )
            for d in doses
        ],
        records=[RecordOut.model_validate(r, from_attributes=True) for r in records],
    )


async def run_overdue_check(
    session: AsyncSession,
    *,
    on: date,
    tenant: str,
    on_progress: Callable[[str], None] | None = None,
) -> OverdueRunOut:
    """Recompute every registered child's statuses on `on`; a dose newly overdue is stored
    and announced (immunization.dose.overdue), one no longer overdue (given, window closed,
    moved out) leaves the list."""
    schedule = Schedule(await all_rules(session), on)
    rows = await repository.children_born_after(session, _oldest_birth_date(schedule, on))
    given = await repository.all_given(session)
    found: dict[repository.OverdueKey, repository.OverdueRow] = {}
    for index, (person_no, birth, residence, ward) in enumerate(rows, start=1):
        for dose in schedule.overdue(
            birth, given.get(person_no, ()), resident=residence == "resident"
        ):
            if dose.overdue_from is not None:  # always set for an overdue dose
                key = (person_no, dose.vaccine, dose.dose_no)
                found[key] = (*key, ward, dose.overdue_from, dose.last_day)
        if on_progress is not None and index % PROGRESS_EVERY == 0:
            on_progress(f"{index} of {len(rows)} children")
    held = await repository.overdue_keys(session)
    added = [found[key] for key in found.keys() - held]
    resolved = len(held - found.keys())
    await repository.replace_overdue(session, list(found.values()))
    work = UnitOfWork.of(session)
    await events.DOSE_OVERDUE.emit_many(
        work,
        tenant=tenant,
        items=[
            (
                person_no,
                events.DoseOverdue(
                    person_no=person_no,
                    vaccine=vaccine,
                    dose_no=dose_no,
                    overdue_from=overdue_from,
                    last_day=last_day,
                    ward_code=ward,
                ),
            )
            for person_no, vaccine, dose_no, ward, overdue_from, last_day in sorted(added)
        ],
    )
    report = OverdueRunOut(
        on=on,
        children=len(rows),
        overdue=len(found),
        newly_overdue=len(added),
        resolved=resolved,
    )
    work.record(
        actor=OVERDUE_RUN_ACTOR,
        action="status.overdue_check",
        target_type="schedule",
        detail=report.model_dump(mode="json"),
    )
    return report


def _oldest_birth_date(schedule: Schedule, on: date) -> date:
    """A day before which every child is past every window on `on` (conservative: a year
    more than the longest age window, which also covers the school-year ones)."""
    years = max((rule.end.months for rule in schedule.rules), default=0) // 12 + 2
    return date(on.year - years, 1, 1)


async def overdue_page(
    session: AsyncSession,
    *,
    principal: Principal,
    ward_code: str,
    month: str | None,
    after: str | None,
    limit: int,
    purpose: str,
) -> OverduePageOut:
    """The ward's overdue doses as of the last overdue check, those that became overdue in
    `month` (YYYY-MM) if given, in person number order; every child listed is access-logged."""
    ensure_ward_access(principal, ward_code)
    result = await session.execute(
        repository.overdue_page_query(
            ward_code=ward_code, month=_month(month), after=_cursor(after), limit=limit
        )
    )
    items = [
        OverdueItemOut(
            person_no=dose.person_no,
            family_name=child.family_name,
            given_name=child.given_name,
            birth_date=child.birth_date,
            vaccine=dose.vaccine,
            dose_no=dose.dose_no,
            overdue_from=dose.overdue_from,
            last_day=dose.last_day,
        )
        for dose, child in result.all()
    ]
    work = UnitOfWork.of(session)
    for person_no in dict.fromkeys(item.person_no for item in items):
        work.record_access(
            principal,
            action="status.overdue_list",
            target_type="person",
            target_id=person_no,
            purpose=purpose,
            detail={"ward_code": ward_code},
        )
    last = items[-1] if len(items) == limit else None
    return OverduePageOut(
        ward_code=ward_code,
        month=month,
        items=items,
        next_after=None if last is None else f"{last.person_no}:{last.vaccine}:{last.dose_no}",
    )


def _month(month: str | None) -> tuple[date, date] | None:
    if month is None:
        return None
    try:
        year, number = (int(part) for part in month.split("-"))
        return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])
    except ValueError:
        raise InvalidInput("month is YYYY-MM") from None


def _cursor(after: str | None) -> repository.OverdueKey | None:
    if after is None:
        return None
    person_no, _, rest = after.partition(":")
    vaccine, _, dose_no = rest.partition(":")
    if not person_no or not vaccine or not dose_no.isdigit():
        raise InvalidInput("after is the previous page's next_after")
    return person_no, vaccine, int(dose_no)
