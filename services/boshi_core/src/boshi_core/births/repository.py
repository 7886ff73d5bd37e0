"""Queries for children and low birth weight notifications."""

from datetime import date
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.births.models import Child, LowBirthWeightNotification
from boshi_core.pregnancy.models import Pregnancy


async def get(session: AsyncSession, child_id: UUID) -> Child | None:
    return await session.get(Child, child_id)


async def by_person_no_for_update(session: AsyncSession, person_no: str) -> Child | None:
    stmt = select(Child).where(Child.person_no == person_no).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def is_linked(session: AsyncSession, person_no: str) -> bool:
    stmt = select(Child.id).where(Child.person_no == person_no)
    return (await session.execute(stmt)).first() is not None


async def unlinked_child_for_update(
    session: AsyncSession, *, mother: str, birth_date: date, sex: str | None, missing: str
) -> Child | None:
    """A child of this mother, born that day, still waiting for the other half of its record:
    `missing` is "person_no" (recorded at outcome, atena's born event not yet applied) or
    "details" (atena's event applied first, the outcome not yet recorded)."""
    stmt = select(Child).where(Child.mother_person_no == mother, Child.birth_date == birth_date)
    if sex is not None:
        stmt = stmt.where(Child.sex == sex)
    if missing == "person_no":
        stmt = stmt.where(Child.person_no.is_(None))
    else:
        stmt = stmt.where(Child.birth_weight_g.is_(None))
    stmt = stmt.order_by(Child.created_at).limit(1).with_for_update()
    return (await session.execute(stmt)).scalars().first()


async def lock_pregnancies_of(session: AsyncSession, mother_person_no: str) -> None:
    """Lock the mother's pregnancies (in id order) until the transaction ends."""
    stmt = (
        select(Pregnancy.id)
        .where(Pregnancy.person_no == mother_person_no)
        .order_by(Pregnancy.id)
        .with_for_update()
    )
    await session.execute(stmt)


async def latest_pregnancy_id(session: AsyncSession, mother_person_no: str) -> UUID | None:
    stmt = (
        select(Pregnancy.id)
        .where(Pregnancy.person_no == mother_person_no)
        .order_by(Pregnancy.notified_on.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def has_low_birth_weight_notification(session: AsyncSession, child_id: UUID) -> bool:
    stmt = select(LowBirthWeightNotification.id).where(
        LowBirthWeightNotification.child_id == child_id
    )
    return (await session.execute(stmt)).first() is not None
