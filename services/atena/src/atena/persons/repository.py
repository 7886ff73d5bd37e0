"""Queries of the registry. Snapshots always come from the `atena_snapshot` SQL function."""

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from atena.persons.models import Household, Person, PersonChange, PersonMyNumber, PersonVersion
from mch_common.driver_reads import load_rows
from mch_common.names import search_key
from mch_common.person_numbers import person_no_from_serial

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


async def snapshot(session: AsyncSession, person_no: str) -> dict[str, Any]:
    """The snapshot of a person the caller has loaded (or just flushed)."""
    stmt = select(_SNAPSHOT).select_from(Person).where(Person.person_no == person_no)
    result: dict[str, Any] = (await session.execute(stmt)).scalar_one()
    return result


async def _snapshots(
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


@dataclass(frozen=True)
class PersonFilters:
    """Search criteria; every one given must match. Names and kana match by prefix of their
    normalised key, the town by prefix."""

    name: str | None = None
    kana: str | None = None
    birth_date: date | None = None
    birth_date_from: date | None = None
    birth_date_to: date | None = None
    postal_code: str | None = None
    town: str | None = None
    household_no: str | None = None
    residence_status: str | None = None
    sex: str | None = None
    ward_code: str | None = None  # narrows a search, is none on its own

    def criteria(self) -> list[str]:
        """The names of the criteria given (for the access record)."""
        return [f.name for f in fields(self) if getattr(self, f.name) not in (None, "")]

    def in_ward(self, ward_code: str) -> "PersonFilters":
        return replace(self, ward_code=ward_code)

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.name:
            where.append(name_matches(search_key(self.name)))
        if self.kana:
            where.append(prefix(Person.kana_key, search_key(self.kana)))
        if self.birth_date is not None:
            where.append(Person.birth_date == self.birth_date)
        if self.birth_date_from is not None:
            where.append(Person.birth_date >= self.birth_date_from)
        if self.birth_date_to is not None:
            where.append(Person.birth_date <= self.birth_date_to)
        if self.postal_code:
            where.append(Person.postal_code == self.postal_code.replace("-", ""))
        if self.town:
            where.append(prefix(Person.town, self.town.strip()))
        if self.household_no:
            where.append(Person.household_no == self.household_no)
        if self.residence_status:
            where.append(Person.residence_status == self.residence_status)
        if self.sex:
            where.append(Person.sex == self.sex)
        if self.ward_code:
            where.append(Person.ward_code == self.ward_code)
        return where


_SORTS: dict[str, list[Any]] = {
    "person_no": [Person.person_no],
    "kana": [Person.kana_key, Person.person_no],
    "-kana": [Person.kana_key.desc(), Person.person_no],
    "name": [Person.name_key, Person.person_no],
    "-name": [Person.name_key.desc(), Person.person_no],
    "birth_date": [Person.birth_date, Person.person_no],
    "-birth_date": [Person.birth_date.desc(), Person.person_no],
}


async def search(
    session: AsyncSession, filters: PersonFilters, *, sort: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the matching people's snapshots, and how many match in all."""
    return await _snapshots(
        session, filters.conditions(), order_by=_SORTS[sort], limit=limit, offset=offset
    )


async def household_members(session: AsyncSession, household_no: str) -> list[dict[str, Any]]:
    snaps, _ = await _snapshots(
        session,
        [Person.household_no == household_no],
        order_by=[Person.birth_date, Person.person_no],
        limit=100,
        offset=0,
    )
    return snaps


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


def view_query() -> Select[str, str | None, dict[str, Any], str | None, bytes | None]:
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


# Every person read and lookup: built once, sent on the driver (mch_common.driver_reads).
_VIEW_BY_NUMBER = view_query().where(Person.person_no == bindparam("person_no"))


async def person_view(session: AsyncSession, person_no: str) -> PersonView | None:
    rows = await load_rows(session, _VIEW_BY_NUMBER, person_no=person_no)
    return PersonView(*rows[0]) if rows else None


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


async def add_version(
    session: AsyncSession,
    *,
    person_no: str,
    version: int,
    valid_from: date,
    snapshot: dict[str, Any],
    recorded_at: datetime,
    valid_to: date | None = None,
) -> None:
    await session.execute(
        insert(PersonVersion).values(
            person_no=person_no,
            version=version,
            valid_from=valid_from,
            valid_to=valid_to,
            snapshot=snapshot,
            recorded_at=recorded_at,
        )
    )


async def supersede_version(session: AsyncSession, version_id: int, at: datetime) -> None:
    await session.execute(
        update(PersonVersion).where(PersonVersion.id == version_id).values(superseded_at=at)
    )


async def add_change(
    session: AsyncSession,
    *,
    person_no: str,
    version: int,
    change_type: str,
    effective_date: date,
    actor: str,
    reason: str | None,
    before: dict[str, Any],
    after: dict[str, Any],
    detail: dict[str, Any],
) -> None:
    """A change-log row (person_change)."""
    await session.execute(
        insert(PersonChange).values(
            person_no=person_no,
            version=version,
            change_type=change_type,
            effective_date=effective_date,
            actor=actor,
            reason=reason,
            before=before,
            after=after,
            detail=detail,
        )
    )


def add_person(session: AsyncSession, person: Person) -> None:
    """A new person, written with the unit of work's next flush."""
    session.add(person)


async def add_household(session: AsyncSession) -> str:
    """A new household; its number."""
    household_no = await next_household_no(session)
    session.add(Household(household_no=household_no))
    await session.flush()
    return household_no


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
