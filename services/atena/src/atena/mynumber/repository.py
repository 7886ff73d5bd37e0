"""Queries of the My Number table (person_my_number): sealed numbers, found by blind index."""

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atena.persons.models import PersonMyNumber
from atena.persons.repository import PersonView, view_query
from mch_common.mynumber import EncryptedMyNumber


async def my_number_of(session: AsyncSession, person_no: str) -> PersonMyNumber | None:
    stmt = select(PersonMyNumber).where(PersonMyNumber.person_no == person_no)
    return (await session.execute(stmt)).scalar_one_or_none()


async def persons_with_my_number(session: AsyncSession, person_nos: Sequence[str]) -> set[str]:
    if not person_nos:
        return set()
    stmt = select(PersonMyNumber.person_no).where(PersonMyNumber.person_no.in_(person_nos))
    return set((await session.execute(stmt)).scalars().all())


async def person_by_blind_index(session: AsyncSession, blind_index: bytes) -> str | None:
    stmt = select(PersonMyNumber.person_no).where(PersonMyNumber.blind_index == blind_index)
    result: str | None = (await session.execute(stmt)).scalar_one_or_none()
    return result


async def person_view_by_blind_index(
    session: AsyncSession, blind_index: bytes
) -> PersonView | None:
    stmt = view_query().where(PersonMyNumber.blind_index == blind_index)
    row = (await session.execute(stmt)).first()
    return PersonView(*row) if row is not None else None


def add_my_number(
    session: AsyncSession, *, person_no: str, sealed: EncryptedMyNumber, blind_index: bytes
) -> None:
    session.add(
        PersonMyNumber(
            person_no=person_no,
            key_id=sealed.key_id,
            ciphertext=sealed.ciphertext,
            blind_index=blind_index,
        )
    )


def replace_my_number(
    current: PersonMyNumber, *, sealed: EncryptedMyNumber, blind_index: bytes
) -> None:
    current.key_id, current.ciphertext = sealed.key_id, sealed.ciphertext
    current.blind_index, current.registered_at = blind_index, datetime.now(UTC)
