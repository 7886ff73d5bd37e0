"""The child register's SQL: a snapshot goes in only if newer than what is held."""

from datetime import date
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from immunization_bridge.children.models import Child
from immunization_bridge.schedule.models import ScheduleRule

_GET = select(Child).where(Child.person_no == bindparam("person_no"))
_AGE_LIMIT_MONTHS = select(func.max(ScheduleRule.end_months))


async def get(session: AsyncSession, person_no: str) -> Child | None:
    return (await session.execute(_GET, {"person_no": person_no})).scalar_one_or_none()


async def age_limit_months(session: AsyncSession) -> int:
    """The oldest age (months) any schedule window reaches: older people are not registered."""
    return int((await session.execute(_AGE_LIMIT_MONTHS)).scalar_one() or 0)


def child_values(snapshot: dict[str, Any], event_type: str) -> dict[str, Any]:
    address = snapshot.get("address") or {}
    death = snapshot.get("death_date")
    return {
        "person_no": snapshot["person_no"],
        "version": int(snapshot["version"]),
        "residence_status": snapshot["residence_status"],
        "family_name": snapshot["family_name"],
        "given_name": snapshot["given_name"],
        "family_name_kana": snapshot.get("family_name_kana"),
        "given_name_kana": snapshot.get("given_name_kana"),
        "sex": snapshot.get("sex"),
        "birth_date": date.fromisoformat(snapshot["birth_date"]),
        "death_date": date.fromisoformat(death) if death else None,
        "ward_code": address.get("ward_code"),
        "last_event_type": event_type,
    }


async def upsert_newer(session: AsyncSession, values: dict[str, Any]) -> None:
    statement = insert(Child).values(values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Child.person_no],
            set_={k: statement.excluded[k] for k in values if k != "person_no"},
            where=Child.version < statement.excluded.version,
        )
    )


async def update_newer(session: AsyncSession, values: dict[str, Any]) -> None:
    """A person past the age limit: only a child already registered is updated."""
    await session.execute(
        update(Child)
        .where(Child.person_no == values["person_no"], Child.version < values["version"])
        .values(values)
    )
