"""Queries for home visits."""

from datetime import date
from uuid import UUID

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.births.models import Child
from boshi_core.visits.models import HomeVisit


async def add_unless_scheduled(
    session: AsyncSession,
    *,
    child: Child,
    kind: str,
    due: date,
    not_applicable_reason: str | None = None,
) -> HomeVisit | None:
    """The new visit (open, or not applicable with the reason), or None when the child already
    has one of this kind."""
    visit_id = (
        await session.execute(
            insert(HomeVisit)
            .values(
                kind=kind,
                child_id=child.id,
                mother_person_no=child.mother_person_no,
                ward_code=child.ward_code,
                due_by=due,
                status="open" if not_applicable_reason is None else "not_applicable",
                not_applicable_reason=not_applicable_reason,
            )
            .on_conflict_do_nothing(index_elements=[HomeVisit.child_id, HomeVisit.kind])
            .returning(HomeVisit.id)
        )
    ).scalar_one_or_none()
    if visit_id is None:
        return None
    return await session.get(HomeVisit, visit_id)


async def get_for_update(session: AsyncSession, visit_id: UUID) -> HomeVisit | None:
    stmt = select(HomeVisit).where(HomeVisit.id == visit_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def child_of(session: AsyncSession, visit: HomeVisit) -> Child:
    child = await session.get(Child, visit.child_id)
    if child is None:  # the foreign key makes this impossible
        raise LookupError(f"home visit {visit.id} names no child")
    return child


def _after(stmt: Select[HomeVisit], after: tuple[date, UUID] | None) -> Select[HomeVisit]:
    if after is None:
        return stmt
    after_due, after_id = after
    return stmt.where(
        or_(
            HomeVisit.due_by > after_due,
            and_(HomeVisit.due_by == after_due, HomeVisit.id > after_id),
        )
    )


async def of_person(
    session: AsyncSession, *, person_no: str, after: tuple[date, UUID] | None, limit: int
) -> list[HomeVisit]:
    """The visits about a person, as mother or as the child visited, by (due_by, id)."""
    as_child = select(Child.id).where(Child.person_no == person_no).scalar_subquery()
    stmt = select(HomeVisit).where(
        or_(HomeVisit.mother_person_no == person_no, HomeVisit.child_id == as_child)
    )
    stmt = _after(stmt, after).order_by(HomeVisit.due_by, HomeVisit.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def of_child(
    session: AsyncSession, *, child_id: UUID, after: tuple[date, UUID] | None, limit: int
) -> list[HomeVisit]:
    stmt = _after(select(HomeVisit).where(HomeVisit.child_id == child_id), after)
    stmt = stmt.order_by(HomeVisit.due_by, HomeVisit.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def child_person_nos(session: AsyncSession, child_ids: list[UUID]) -> dict[UUID, str | None]:
    rows = await session.execute(select(Child.id, Child.person_no).where(Child.id.in_(child_ids)))
    return dict(rows.all())


async def overdue(
    session: AsyncSession,
    *,
    as_of: date,
    ward_code: str | None,
    kind: str | None,
    after: tuple[date, UUID] | None,
    limit: int,
) -> list[HomeVisit]:
    """Open visits due before `as_of`, ordered by (due_by, id), from after the key `after`."""
    stmt = select(HomeVisit).where(HomeVisit.status == "open", HomeVisit.due_by < as_of)
    if ward_code is not None:
        stmt = stmt.where(HomeVisit.ward_code == ward_code)
    if kind is not None:
        stmt = stmt.where(HomeVisit.kind == kind)
    stmt = _after(stmt, after)
    stmt = stmt.order_by(HomeVisit.due_by, HomeVisit.id).limit(limit)
    return list((await session.execute(stmt)).scalars())
