"""The files-out SQL: changes recorded once per event, taken by one run at a time."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from immunization_bridge.register_files.models import RegisterChange, RegisterFileRun
from mch_common.db import asyncpg_connection

# Two builds at once would wait for each other rather than split the pending changes.
_BUILD_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('immunization_bridge.register_file'))")
# The file's lines as they are written (layout.HEADER's order, sex as its code): plain tuples
# straight to the CSV writer, no ORM objects for 100,000 lines that only pass through.
_PENDING_LINES = """
SELECT id, change, effective_date, person_no, family_name, given_name, family_name_kana,
       given_name_kana, CASE sex WHEN 'male' THEN '1' WHEN 'female' THEN '2' END,
       birth_date, death_date, ward_code, other_municipality_code, version
FROM register_changes WHERE run_id IS NULL ORDER BY id
"""
_ASSIGN = (
    update(RegisterChange)
    .where(RegisterChange.run_id.is_(None), RegisterChange.id <= bindparam("last_id"))
    .values(run_id=bindparam("run_id"))
)
_CHANGES_OF_RUN = (
    select(RegisterChange)
    .where(RegisterChange.run_id == bindparam("run_id"))
    .order_by(RegisterChange.id)
)
_CHANGES_OF_PERSON = (
    select(RegisterChange)
    .where(RegisterChange.person_no == bindparam("person_no"))
    .order_by(RegisterChange.id)
)
_PENDING_COUNT = select(func.count()).where(RegisterChange.run_id.is_(None))


async def record_change(session: AsyncSession, values: dict[str, Any]) -> None:
    """Once per event id: a redelivered event adds nothing."""
    await session.execute(
        insert(RegisterChange).values(values).on_conflict_do_nothing(index_elements=["event_id"])
    )


async def lock_for_build(session: AsyncSession) -> None:
    await session.execute(_BUILD_LOCK)


async def pending_lines(session: AsyncSession) -> list[Sequence[Any]]:
    driver = await asyncpg_connection(session)
    return list(await driver.fetch(_PENDING_LINES))


async def pending_count(session: AsyncSession) -> int:
    return int((await session.execute(_PENDING_COUNT)).scalar_one())


async def assign(session: AsyncSession, *, run_id: int, last_id: int) -> None:
    await session.execute(_ASSIGN, {"run_id": run_id, "last_id": last_id})


async def changes_of(session: AsyncSession, run_id: int) -> list[RegisterChange]:
    return list((await session.execute(_CHANGES_OF_RUN, {"run_id": run_id})).scalars())


async def changes_of_person(session: AsyncSession, person_no: str) -> list[RegisterChange]:
    return list((await session.execute(_CHANGES_OF_PERSON, {"person_no": person_no})).scalars())


async def runs_page(
    session: AsyncSession, *, before: int | None, limit: int
) -> list[RegisterFileRun]:
    """Newest first, without the files' bytes."""
    stmt = (
        select(RegisterFileRun)
        .options(defer(RegisterFileRun.content, raiseload=True))
        .order_by(RegisterFileRun.id.desc())
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(RegisterFileRun.id < before)
    return list((await session.execute(stmt)).scalars())


async def count_delivery(session: AsyncSession, run_id: int) -> None:
    await session.execute(
        update(RegisterFileRun)
        .where(RegisterFileRun.id == run_id)
        .values(deliveries=RegisterFileRun.deliveries + 1, last_delivered_at=func.now())
    )


def person_nos(changes: Sequence[RegisterChange]) -> list[str]:
    return list(dict.fromkeys(change.person_no for change in changes))
