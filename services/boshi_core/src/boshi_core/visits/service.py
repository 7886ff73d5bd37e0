"""Home visits: due dates from the one age module, assignment, results, the overdue list."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core import events
from boshi_core.births.models import Child
from boshi_core.paging import next_cursor, parse_cursor
from boshi_core.people.service import person_in_scope
from boshi_core.rules import service as rules
from boshi_core.rules.models import BirthRule
from boshi_core.visits import repository
from boshi_core.visits.models import HomeVisit
from mch_common.auth.deps import ensure_ward_access
from mch_common.auth.principal import Principal
from mch_common.dates import last_day_before_months, today_tokyo
from mch_common.errors import Conflict, InvalidInput, NotFound
from mch_common.work import UnitOfWork

PURPOSE = "母子保健法第11条・第19条, 児童福祉法第6条の3第4項 (home visits)"
BIRTH_VISITS = ("newborn", "infant_household")


def due_by(
    kind: str, *, birth_date: date, rule: BirthRule, notified_on: date | None = None
) -> date:
    """The last day a visit counts as on time, by the birth follow-up rule `rule` (the one in
    force on the birth date; for the premature infant visit, on the notification date)."""
    if kind == "newborn":  # under `newborn_visit_days` days old, the birth day being day 0
        return birth_date + timedelta(days=rule.newborn_visit_days - 1)
    if kind == "infant_household":
        return last_day_before_months(birth_date, rule.infant_household_visit_months)
    if kind == "premature":
        return (notified_on or birth_date) + timedelta(days=rule.premature_visit_due_days)
    raise ValueError(f"unknown visit kind {kind}")


def _window(kind: str, rule: BirthRule) -> str:
    if kind == "newborn":
        return f"the newborn visit's window (under {rule.newborn_visit_days} days old)"
    return (
        "the infant household visit's window "
        f"(under {rule.infant_household_visit_months} months old)"
    )


async def schedule(
    session: AsyncSession, *, child: Child, kind: str, due: date
) -> HomeVisit | None:
    """Create the visit unless the child already has one of this kind."""
    return await repository.add_unless_scheduled(session, child=child, kind=kind, due=due)


async def schedule_birth_visits(session: AsyncSession, child: Child) -> None:
    """The newborn and infant household visits of a child the city learns of today, windows by
    the birth follow-up rule in force on the birth date. A window that ended before today (a
    birth registered late, a child moving in) is recorded as not applicable with the reason: it
    can no longer be kept, so it is never overdue."""
    known_on = today_tokyo()
    rule = await rules.birth_rule_on(session, child.birth_date, field="the child's birth date")
    for kind in BIRTH_VISITS:
        due = due_by(kind, birth_date=child.birth_date, rule=rule)
        reason = (
            f"{_window(kind, rule)} ended on {due.isoformat()}, before the child became known on "
            f"{known_on.isoformat()}"
            if due < known_on
            else None
        )
        await repository.add_unless_scheduled(
            session, child=child, kind=kind, due=due, not_applicable_reason=reason
        )


async def _open_visit(session: AsyncSession, principal: Principal, visit_id: UUID) -> HomeVisit:
    visit = await repository.get_for_update(session, visit_id)
    if visit is None:
        raise NotFound(f"no home visit {visit_id}")
    ensure_ward_access(principal, visit.ward_code or "")
    if visit.status == "completed":
        raise Conflict("the visit is already completed")
    if visit.status == "not_applicable":
        raise Conflict(f"the visit is not applicable: {visit.not_applicable_reason}")
    return visit


async def assign(
    session: AsyncSession, *, principal: Principal, visit_id: UUID, staff_id: str
) -> HomeVisit:
    visit = await _open_visit(session, principal, visit_id)
    _assign(visit, staff_id)
    await session.flush()
    UnitOfWork.of(session).record_access(
        principal,
        action="visit.assign",
        target_type="person",
        target_id=visit.mother_person_no,
        purpose=PURPOSE,
        detail={"visit_id": str(visit.id), "assigned_to": staff_id},
    )
    return visit


def _assign(visit: HomeVisit, staff_id: str) -> None:
    visit.assigned_to = staff_id
    visit.assigned_at = datetime.now(UTC)


async def complete(
    session: AsyncSession,
    *,
    principal: Principal,
    visit_id: UUID,
    visited_on: date,
    result: dict[str, Any],
) -> HomeVisit:
    """Record the result. A visit nobody was assigned is assigned to the staff member who
    completes it, so that every completed visit names who was responsible for it."""
    visit = await _open_visit(session, principal, visit_id)
    child = await repository.child_of(session, visit)
    if visited_on < child.birth_date:
        raise InvalidInput("visited_on is before the child's birth")
    if visited_on > today_tokyo():
        raise InvalidInput("visited_on is in the future")
    detail = {"visit_id": str(visit.id)}
    if visit.assigned_to is None:
        _assign(visit, principal.sub)
        detail["assigned_to"] = principal.sub
    visit.status = "completed"
    visit.visited_on = visited_on
    visit.within_window = visited_on <= visit.due_by
    visit.result = result
    visit.completed_by = principal.sub
    await session.flush()
    events.VISIT_COMPLETED.emit(
        UnitOfWork.of(session),
        subject=str(visit.id),
        tenant=principal.tenant,
        data=events.VisitCompleted(
            visit_id=str(visit.id),
            kind=visit.kind,
            child_id=str(visit.child_id),
            child_person_no=child.person_no,
            visited_on=visited_on,
            within_window=visit.within_window,
        ),
    )
    UnitOfWork.of(session).record_access(
        principal,
        action="visit.complete",
        target_type="person",
        target_id=visit.mother_person_no,
        purpose=PURPOSE,
        detail=detail,
    )
    return visit


@dataclass(frozen=True)
class VisitPage:
    items: list[HomeVisit]
    next_cursor: str | None


async def overdue(
    session: AsyncSession,
    *,
    principal: Principal,
    as_of: date | None = None,
    kind: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> VisitPage:
    """Open visits past their due date, oldest first, keyset-paged by (due_by, id)."""
    on = as_of or today_tokyo()
    after = parse_cursor(cursor)
    rows = await repository.overdue(
        session, as_of=on, ward_code=principal.ward, kind=kind, after=after, limit=limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    UnitOfWork.of(session).record_access(
        principal,
        action="visit.list_overdue",
        target_type="visit_list",
        purpose=PURPOSE,
        detail={"as_of": on.isoformat(), "count": len(page)},
        persons=sorted({v.mother_person_no for v in page}),
    )
    return VisitPage(page, next_cursor((page[-1].due_by, page[-1].id) if more else None))


def _page(rows: list[HomeVisit], limit: int) -> VisitPage:
    page = rows[:limit]
    return VisitPage(
        page, next_cursor((page[-1].due_by, page[-1].id) if len(rows) > limit else None)
    )


def _shown(visits: list[HomeVisit], children: dict[UUID, str | None]) -> list[str]:
    """Everyone a page of visits shows: the mothers and the children with a person number."""
    people = {v.mother_person_no for v in visits}
    people |= {no for v in visits if (no := children.get(v.child_id)) is not None}
    return sorted(people)


async def of_person(
    session: AsyncSession,
    *,
    principal: Principal,
    person_no: str,
    limit: int = 50,
    cursor: str | None = None,
) -> VisitPage:
    """Every visit about the person, as mother or as the child visited, by due date then id;
    ward staff see the visits of their ward's residents (another ward's is not found)."""
    await person_in_scope(session, principal, person_no)
    rows = await repository.of_person(
        session, person_no=person_no, after=parse_cursor(cursor), limit=limit + 1
    )
    page = _page(rows, limit)
    children = await repository.child_person_nos(session, [v.child_id for v in page.items])
    UnitOfWork.of(session).record_access(
        principal,
        action="visit.list_of_person",
        target_type="person",
        target_id=person_no,
        purpose=PURPOSE,
        detail={"count": len(page.items)},
        persons=_shown(page.items, children),
    )
    return page


async def of_child(
    session: AsyncSession,
    *,
    principal: Principal,
    child_id: UUID,
    limit: int = 50,
    cursor: str | None = None,
) -> VisitPage:
    """A child's visits (also before atena's person number reached the birth record)."""
    child = await session.get(Child, child_id)
    if child is None:
        raise NotFound(f"no child {child_id}")
    ensure_ward_access(principal, child.ward_code or "")
    rows = await repository.of_child(
        session, child_id=child_id, after=parse_cursor(cursor), limit=limit + 1
    )
    page = _page(rows, limit)
    UnitOfWork.of(session).record_access(
        principal,
        action="visit.list_of_child",
        target_type="person",
        target_id=child.person_no or child.mother_person_no,
        purpose=PURPOSE,
        detail={"child_id": str(child_id), "count": len(page.items)},
        persons=_shown(page.items, {child.id: child.person_no}),
    )
    return page
