"""The suspensions in force, and the SQL condition the extraction and the reminder run use."""

from datetime import date
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.suspensions.models import UseSuspension


def suspended(use: str, person_column: str) -> str:
    """SQL: the person in `person_column` has an unlifted suspension of `use` (a literal from
    SuspendedUse, never input)."""
    where = f"us.person_no = {person_column} AND us.use = '{use}' AND us.lifted_on IS NULL"
    return f"EXISTS (SELECT 1 FROM use_suspensions us WHERE {where})"  # noqa: S608 - literals


async def suspend(
    session: AsyncSession, *, person_no: str, use: str, request_id: UUID, on: date
) -> bool:
    """Start a suspension; False when one of that use is already in force (nothing changes)."""
    stmt = (
        insert(UseSuspension)
        .values(person_no=person_no, use=use, request_id=request_id, suspended_on=on)
        .on_conflict_do_nothing(
            index_elements=["person_no", "use"], index_where=UseSuspension.lifted_on.is_(None)
        )
    )
    return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def lift(
    session: AsyncSession, *, person_no: str, use: str, request_id: UUID, on: date
) -> bool:
    """Lift the suspension in force; False when there is none."""
    stmt = (
        update(UseSuspension)
        .where(
            UseSuspension.person_no == person_no,
            UseSuspension.use == use,
            UseSuspension.lifted_on.is_(None),
        )
        .values(lifted_on=on, lift_request_id=request_id)
    )
    return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def of_person(session: AsyncSession, person_no: str) -> list[UseSuspension]:
    stmt = (
        select(UseSuspension)
        .where(UseSuspension.person_no == person_no)
        .order_by(UseSuspension.suspended_on, UseSuspension.id)
    )
    return list((await session.execute(stmt)).scalars())
