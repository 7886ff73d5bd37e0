"""Queries of the registry. Snapshots always come from the `atena_snapshot` SQL function."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from atena.numbers import person_no_from_serial
from atena.persons.models import Household, Person, PersonChange, PersonMyNumber, PersonVersion

_SNAPSHOT = func.atena_snapshot(literal_column("person"), type_=JSONB)
_MAX_CHAR = "\U0010ffff"


async def next_person_no(session: AsyncSession) -> str:
    serial = (await session.execute(text("SELECT nextval('person_serial')"))).scalar_one()
    return person_no_from_serial(int(serial))


async def next_household_no(session: AsyncSession) -> str:
    serial = (await session.execute(text("SELECT nextval('household_serial')"))).scalar_one()
    return person_no_from_serial(int(serial))


async def get_person(session: AsyncSession, person_no: str, *, lock: bool = False) -> Person | None:
    stmt = select(Person).where(Person.person_no == person_no)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def household_exists(session: AsyncSession, household_no: str) -> bool:
    stmt = select(Household.household_no).where(Household.household_no == household_no)
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def snapshot(session: AsyncSession, person_no: str) -> dict[str, Any] | None:
    stmt = select(_SNAPSHOT).select_from(Person).where(Person.person_no == person_no)
    result: dict[str, Any] | None = (await session.execute(stmt)).scalar_one_or_none()
    return result


async def snapshots(
    session: AsyncSession,
    where: Sequence[ColumnElement[bool]],
    *,
    order_by: Sequence[Any],
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    stmt = select(_SNAPSHOT).select_from(Person).where(*where).order_by(*order_by)
    rows = (await session.execute(stmt.limit(limit).offset(offset))).scalars().all()
    total_stmt = select(func.count()).select_from(Person).where(*where)
    total = (await session.execute(total_stmt)).scalar_one()
    return list(rows), int(total)


def prefix(column: Any, value: str) -> ColumnElement[bool]:
    """A prefix match the "C"-collated btree index can serve (LIKE with a parameter cannot)."""
    return and_(column >= value, column < value + _MAX_CHAR)


def name_matches(key: str) -> ColumnElement[bool]:
    return or_(prefix(Person.name_key, key), prefix(Person.kana_key, key))


@dataclass(frozen=True)
class PersonView:
    """What a read needs, in one round trip: the ward (for scoping), the snapshot, the sealed
    My Number."""

    person_no: str
    ward_code: str | None
    snapshot: dict[str, Any]
    my_number_key_id: str | None
    my_number_ciphertext: bytes | None


def _view_query() -> Select[Any]:
    return (
        select(
            Person.person_no,
            Person.ward_code,
            _SNAPSHOT,
            PersonMyNumber.key_id,
            PersonMyNumber.ciphertext,
        )
        .select_from(Person)
        .outerjoin(PersonMyNumber, PersonMyNumber.person_no == Person.person_no)
    )


async def person_view(session: AsyncSession, person_no: str) -> PersonView | None:
    row = (await session.execute(_view_query().where(Person.person_no == person_no))).first()
    return PersonView(*row) if row is not None else None


async def person_view_by_blind_index(
    session: AsyncSession, blind_index: bytes
) -> PersonView | None:
    stmt = _view_query().where(PersonMyNumber.blind_index == blind_index)
    row = (await session.execute(stmt)).first()
    return PersonView(*row) if row is not None else None


async def latest_live_version(session: AsyncSession, person_no: str) -> PersonVersion | None:
    stmt = (
        select(PersonVersion)
        .where(PersonVersion.person_no == person_no, PersonVersion.superseded_at.is_(None))
        .order_by(PersonVersion.valid_from.desc(), PersonVersion.version.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def live_versions(session: AsyncSession, person_no: str) -> list[PersonVersion]:
    stmt = (
        select(PersonVersion)
        .where(PersonVersion.person_no == person_no, PersonVersion.superseded_at.is_(None))
        .order_by(PersonVersion.valid_from, PersonVersion.version)
    )
    return list((await session.execute(stmt)).scalars().all())


async def close_open_version(session: AsyncSession, person_no: str, valid_to: date) -> None:
    await session.execute(
        update(PersonVersion)
        .where(
            PersonVersion.person_no == person_no,
            PersonVersion.valid_to.is_(None),
            PersonVersion.superseded_at.is_(None),
        )
        .values(valid_to=valid_to)
    )


async def snapshot_as_of(
    session: AsyncSession, person_no: str, as_of: date, known_at: datetime | None
) -> dict[str, Any] | None:
    conditions = [
        PersonVersion.person_no == person_no,
        PersonVersion.valid_from <= as_of,
        or_(PersonVersion.valid_to.is_(None), PersonVersion.valid_to > as_of),
    ]
    if known_at is None:
        conditions.append(PersonVersion.superseded_at.is_(None))
    else:
        conditions += [
            PersonVersion.recorded_at <= known_at,
            or_(PersonVersion.superseded_at.is_(None), PersonVersion.superseded_at > known_at),
        ]
    stmt = (
        select(PersonVersion.snapshot)
        .where(*conditions)
        .order_by(PersonVersion.version.desc())
        .limit(1)
    )
    result: dict[str, Any] | None = (await session.execute(stmt)).scalar_one_or_none()
    return result


async def changes(session: AsyncSession, person_no: str) -> list[PersonChange]:
    stmt = (
        select(PersonChange)
        .where(PersonChange.person_no == person_no)
        .order_by(PersonChange.version, PersonChange.id)
    )
    return list((await session.execute(stmt)).scalars().all())


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


async def person_no_by_external_key(session: AsyncSession, external_key: str) -> str | None:
    stmt = select(Person.person_no).where(Person.external_key == external_key)
    result: str | None = (await session.execute(stmt)).scalar_one_or_none()
    return result


async def same_person_registered(
    session: AsyncSession,
    *,
    name_key: str,
    birth_date: date,
    town: str | None,
    block: str | None,
) -> bool:
    stmt = (
        select(Person.person_no)
        .where(
            Person.name_key == name_key,
            Person.birth_date == birth_date,
            Person.town.is_not_distinct_from(town),
            Person.block.is_not_distinct_from(block),
            Person.residence_status.in_(("resident", "non_resident")),
        )
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None
