from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.births.models import Child
from boshi_core.people.models import Person
from boshi_core.people.schemas import ChildSummary, PersonOut, PregnancySummary
from boshi_core.pregnancy.models import Pregnancy
from mch_common.driver_reads import columns_for, load_dicts, load_one, load_rows

# Built once: on every write's path, and building a statement costs more than running it.
_BY_NUMBER = select(Person).where(Person.person_no == bindparam("person_no"))


class Standing(NamedTuple):
    """What a notification checks of the person (pregnancy.service.open_pregnancy)."""

    ward_code: str | None
    residence_status: str
    birth_date: date | None


# Read as these columns alone: the whole row (its addresses' JSONB decoded) and an ORM object
# built of it cost the notification's path more than the read.
_STANDING = select(Person.ward_code, Person.residence_status, Person.birth_date).where(
    Person.person_no == bindparam("person_no")
)


async def standing(session: AsyncSession, person_no: str) -> Standing | None:
    """The person's ward, residence status and birth date, or None: nobody of that number."""
    rows = await load_rows(session, _STANDING, person_no=person_no)
    return Standing(*rows[0]) if rows else None


async def get(session: AsyncSession, person_no: str) -> Person | None:
    """The person as boshi_core's read model holds them: read-only (mch_common.driver_reads;
    the read model changes only through `upsert_snapshot(s)`)."""
    return await load_one(session, _BY_NUMBER, person_no=person_no)


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def snapshot_values(snapshot: dict[str, Any], event_type: str) -> dict[str, Any]:
    """The read model's row for one of atena's person snapshots."""
    address: dict[str, Any] = snapshot.get("address") or {}
    return {
        "person_no": snapshot["person_no"],
        "version": int(snapshot["version"]),
        "residence_status": snapshot.get("residence_status") or "resident",
        "family_name": snapshot.get("family_name") or "",
        "given_name": snapshot.get("given_name") or "",
        "family_name_kana": snapshot.get("family_name_kana"),
        "given_name_kana": snapshot.get("given_name_kana"),
        "sex": snapshot.get("sex"),
        "birth_date": _date(snapshot.get("birth_date")),
        "death_date": _date(snapshot.get("death_date")),
        "municipality_code": address.get("municipality_code"),
        "ward_code": address.get("ward_code"),
        "address": address,
        "delivery_addresses": snapshot.get("delivery_addresses") or [],
        "household_no": snapshot.get("household_no"),
        "phone": snapshot.get("phone"),
        "email": snapshot.get("email"),
        "mother_person_no": snapshot.get("mother_person_no"),
        "last_event_type": event_type,
    }


def _upsert() -> Any:
    stmt = insert(Person)
    updated = [c.key for c in Person.__table__.columns if c.key not in ("person_no", "updated_at")]
    return stmt.on_conflict_do_update(
        index_elements=[Person.person_no],
        set_={key: stmt.excluded[key] for key in updated} | {"updated_at": func.now()},
        # Events can arrive out of order: an older snapshot never overwrites a newer one.
        where=Person.version < stmt.excluded.version,
    ).returning(Person.person_no)


_UPSERT = _upsert()


async def upsert_snapshot(session: AsyncSession, snapshot: dict[str, Any], event_type: str) -> bool:
    """Store atena's snapshot unless what we hold is as new or newer; True when applied."""
    values = snapshot_values(snapshot, event_type)
    return (await session.execute(_UPSERT, values)).first() is not None


async def upsert_snapshots(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Many `snapshot_values` rows in one executemany; returns how many were applied (the
    others: what we hold is as new or newer)."""
    if not rows:
        return 0
    return len((await session.execute(_UPSERT, rows)).all())


# A person's profile (every profile read), read as the columns its answer shows
# (mch_common.driver_reads.load_dicts): no ORM object built and read back. Built once, like
# _BY_NUMBER.
_PROFILE_PERSON = select(*columns_for(PersonOut, Person)).where(
    Person.person_no == bindparam("person_no")
)
_PROFILE_PREGNANCIES = (
    select(*columns_for(PregnancySummary, Pregnancy))
    .where(Pregnancy.person_no == bindparam("person_no"))
    .order_by(Pregnancy.notified_on.desc())
)
_PROFILE_CHILDREN = (
    select(*columns_for(ChildSummary, Child))
    .where(Child.mother_person_no == bindparam("mother_person_no"))
    .order_by(Child.birth_date)
)


async def profile_person(session: AsyncSession, person_no: str) -> dict[str, Any] | None:
    """The person's row as the profile shows it (`PersonOut`'s fields, the ward among them),
    or None."""
    rows = await load_dicts(session, _PROFILE_PERSON, person_no=person_no)
    return rows[0] if rows else None


def profile_person_of(person: Person) -> dict[str, Any]:
    """The same row, of a person already read as an object."""
    return {name: getattr(person, name) for name in PersonOut.model_fields}


async def pregnancy_summaries(session: AsyncSession, person_no: str) -> list[dict[str, Any]]:
    """Her pregnancies, newest first, as the profile shows them (`PregnancySummary`)."""
    return await load_dicts(session, _PROFILE_PREGNANCIES, person_no=person_no)


async def child_summaries(session: AsyncSession, mother_person_no: str) -> list[dict[str, Any]]:
    """The children she is mother of, oldest first, as the profile shows them
    (`ChildSummary`)."""
    return await load_dicts(session, _PROFILE_CHILDREN, mother_person_no=mother_person_no)
