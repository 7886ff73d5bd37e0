"""Queries of the request register."""

from datetime import date
from uuid import UUID

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.people.models import Person
from boshi_core.requests.models import PersonalDataRequest, RecordCorrection

_DUE = func.coalesce(PersonalDataRequest.extended_to, PersonalDataRequest.deadline)


async def get(session: AsyncSession, request_id: UUID) -> PersonalDataRequest | None:
    return await session.get(PersonalDataRequest, request_id)


async def for_update(session: AsyncSession, request_id: UUID) -> PersonalDataRequest | None:
    stmt = select(PersonalDataRequest).where(PersonalDataRequest.id == request_id)
    return (await session.execute(stmt.with_for_update())).scalar_one_or_none()


async def overdue(
    session: AsyncSession,
    *,
    as_of: date,
    ward_code: str | None,
    after: tuple[date, UUID] | None,
    limit: int,
) -> list[PersonalDataRequest]:
    """Undecided requests whose (extended) deadline is before `as_of` (about the ward's
    residents, for ward staff), oldest due first, keyset-paged by (due day, id)."""
    stmt = select(PersonalDataRequest).where(PersonalDataRequest.status == "received", _DUE < as_of)
    if ward_code is not None:
        stmt = stmt.join(Person, Person.person_no == PersonalDataRequest.person_no).where(
            Person.ward_code == ward_code
        )
    if after is not None:
        stmt = stmt.where(tuple_(_DUE, PersonalDataRequest.id) > tuple_(*after))
    stmt = stmt.order_by(_DUE, PersonalDataRequest.id).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def of_person(session: AsyncSession, person_no: str) -> list[PersonalDataRequest]:
    stmt = (
        select(PersonalDataRequest)
        .where(PersonalDataRequest.person_no == person_no)
        .order_by(PersonalDataRequest.received_on, PersonalDataRequest.id)
    )
    return list((await session.execute(stmt)).scalars())


async def corrections_of(session: AsyncSession, request_id: UUID) -> list[RecordCorrection]:
    stmt = (
        select(RecordCorrection)
        .where(RecordCorrection.request_id == request_id)
        .order_by(RecordCorrection.corrected_at, RecordCorrection.id)
    )
    return list((await session.execute(stmt)).scalars())


async def corrections_of_record(
    session: AsyncSession, record_type: str, record_id: str
) -> list[RecordCorrection]:
    stmt = (
        select(RecordCorrection)
        .where(RecordCorrection.record_type == record_type, RecordCorrection.record_id == record_id)
        .order_by(RecordCorrection.corrected_at, RecordCorrection.id)
    )
    return list((await session.execute(stmt)).scalars())
