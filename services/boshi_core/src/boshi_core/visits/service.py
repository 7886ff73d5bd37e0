"""Home visits: due dates from the one age module, assignment, results, the overdue list."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core import events
from boshi_core.births.models import Child
from boshi_core.visits import repository
from boshi_core.visits.models import HomeVisit
from mch_common.auth.deps import ensure_ward_access
from mch_common.auth.principal import Principal
from mch_common.dates import NEWBORN_DAYS, last_day_before_months, newborn_last_day, today_tokyo
from mch_common.errors import Conflict, InvalidInput, NotFound
from mch_common.work import UnitOfWork

INFANT_HOUSEHOLD_MONTHS = 4  # こんにちは赤ちゃん事業: before the baby is 4 months old
BIRTH_VISIT_WINDOWS = {
    "newborn": f"the newborn visit's window (under {NEWBORN_DAYS} days old)",
    "infant_household": (
        f"the infant household visit's window (under {INFANT_HOUSEHOLD_MONTHS} months old)"
    ),
}
PURPOSE = "母子保健法第11条・第19条, 児童福祉法第6条の3第4項 (home visits)"


def due_by(
    kind: str, *, birth_date: date, notified_on: date | None = None, premature_due_days: int = 14
) -> date:
    """The last day a visit counts as on time."""
    if kind == "newborn":
        return newborn_last_day(birth_date)
    if kind == "infant_household":
        return last_day_before_months(birth_date, INFANT_HOUSEHOLD_MONTHS)
    if kind == "premature":
        return (notified_on or birth_date) + timedelta(days=premature_due_days)
    raise ValueError(f"unknown visit kind {kind}")


async def schedule(
    session: AsyncSession, *, child: Child, kind: str, due: date
) -> HomeVisit | None:
    """Create the visit unless the child already has one of this kind."""
    return await repository.add_unless_scheduled(session, child=child, kind=kind, due=due)


async def schedule_birth_visits(session: AsyncSession, child: Child) -> None:
    """The newborn and infant household visits of a child the city learns of today. A window
    that ended before today (a birth registered late, a child moving in) is recorded as not
    applicable with the reason: it can no longer be kept, so it is never overdue."""
    known_on = today_tokyo()
    for kind, window in BIRTH_VISIT_WINDOWS.items():
        due = due_by(kind, birth_date=child.birth_date)
        reason = (
            f"{window} ended on {due.isoformat()}, before the child became known on "
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
class OverduePage:
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
) -> OverduePage:
    """Open visits past their due date, oldest first, keyset-paged by (due_by, id)."""
    on = as_of or today_tokyo()
    after: tuple[date, UUID] | None = None
    if cursor is not None:
        try:
            due_text, id_text = cursor.split("_", 1)
            after = date.fromisoformat(due_text), UUID(id_text)
        except ValueError as exc:
            raise InvalidInput("cursor is not one this list returned") from exc
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
    last = page[-1] if more else None
    return OverduePage(page, f"{last.due_by.isoformat()}_{last.id}" if last else None)
