"""Queries of the My Number table (person_my_number): sealed numbers, found by blind index."""

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ARRAY, LargeBinary, any_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from atena.persons.models import PersonMyNumber
from atena.persons.repository import PersonView, view_query
from mch_common.driver_reads import load_rows
from mch_common.mynumber import EncryptedMyNumber


async def my_number_of(session: AsyncSession, person_no: str) -> PersonMyNumber | None:
    stmt = select(PersonMyNumber).where(PersonMyNumber.person_no == person_no)
    return (await session.execute(stmt)).scalar_one_or_none()


async def persons_with_my_number(session: AsyncSession, person_nos: Sequence[str]) -> set[str]:
    if not person_nos:
        return set()
    stmt = select(PersonMyNumber.person_no).where(PersonMyNumber.person_no.in_(person_nos))
    return set((await session.execute(stmt)).scalars().all())


async def person_by_blind_index(
    session: AsyncSession, blind_indexes: Sequence[bytes]
) -> str | None:
    """The holder of a number given by its lookup indexes (two during a re-keying; a number
    has one row, so at most one matches)."""
    stmt = select(PersonMyNumber.person_no).where(PersonMyNumber.blind_index.in_(blind_indexes))
    result: str | None = (await session.execute(stmt)).scalar_one_or_none()
    return result


# Every lookup by My Number: built once, sent on the driver (mch_common.driver_reads).
_VIEW_BY_BLIND_INDEX = view_query().where(
    PersonMyNumber.blind_index == any_(bindparam("blind_indexes", type_=ARRAY(LargeBinary)))
)


async def person_view_by_blind_index(
    session: AsyncSession, blind_indexes: Sequence[bytes]
) -> PersonView | None:
    rows = await load_rows(session, _VIEW_BY_BLIND_INDEX, blind_indexes=list(blind_indexes))
    return PersonView(*rows[0]) if rows else None


def add_my_number(
    session: AsyncSession,
    *,
    person_no: str,
    sealed: EncryptedMyNumber,
    blind_index: bytes,
    index_key_id: str,
) -> None:
    session.add(
        PersonMyNumber(
            person_no=person_no,
            key_id=sealed.key_id,
            ciphertext=sealed.ciphertext,
            blind_index=blind_index,
            index_key_id=index_key_id,
        )
    )


def replace_my_number(
    current: PersonMyNumber, *, sealed: EncryptedMyNumber, blind_index: bytes, index_key_id: str
) -> None:
    current.key_id, current.ciphertext = sealed.key_id, sealed.ciphertext
    current.blind_index, current.index_key_id = blind_index, index_key_id
    current.registered_at = datetime.now(UTC)
