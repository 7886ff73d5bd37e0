"""The statuses' SQL. The nightly run reads every child and record with asyncpg directly: the
ORM would spend more on 100,000 objects than the computation itself."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from immunization_bridge.children.models import Child
from immunization_bridge.records.models import VaccinationRecord
from immunization_bridge.schedule.rules import DoseGiven
from immunization_bridge.status.models import OverdueDose
from mch_common.db import asyncpg_connection

_RECORDS_OF = (
    select(VaccinationRecord)
    .where(VaccinationRecord.person_no == bindparam("person_no"))
    .order_by(VaccinationRecord.given_on, VaccinationRecord.record_id)
)
_ALL_GIVEN = """
SELECT person_no, vaccine, dose_no, given_on FROM vaccination_records WHERE NOT deleted
"""
_CHILDREN_BORN_AFTER = """
SELECT person_no, birth_date, residence_status, ward_code FROM child_register WHERE birth_date > $1
"""
_OVERDUE_KEYS = "SELECT person_no, vaccine, dose_no FROM overdue_doses"
OverdueKey = tuple[str, str, int]
# person_no, vaccine, dose_no, ward_code, overdue_from, last_day: the columns of overdue_doses.
OverdueRow = tuple[str, str, int, str | None, date, date]
_OVERDUE_COLUMNS = ("person_no", "vaccine", "dose_no", "ward_code", "overdue_from", "last_day")


async def records_of(session: AsyncSession, person_no: str) -> list[VaccinationRecord]:
    """Every record of the person, deleted ones included (the caller decides)."""
    return list((await session.execute(_RECORDS_OF, {"person_no": person_no})).scalars())


async def children_born_after(session: AsyncSession, day: date) -> list[Any]:
    return list(await (await asyncpg_connection(session)).fetch(_CHILDREN_BORN_AFTER, day))


async def all_given(session: AsyncSession) -> dict[str, list[DoseGiven]]:
    given: dict[str, list[DoseGiven]] = defaultdict(list)
    for person_no, vaccine, dose_no, given_on in await (await asyncpg_connection(session)).fetch(
        _ALL_GIVEN
    ):
        given[person_no].append(DoseGiven(vaccine, dose_no, given_on))
    return given


async def overdue_keys(session: AsyncSession) -> set[OverdueKey]:
    rows = await (await asyncpg_connection(session)).fetch(_OVERDUE_KEYS)
    return {(r[0], r[1], r[2]) for r in rows}


async def replace_overdue(session: AsyncSession, rows: Sequence[OverdueRow]) -> None:
    """The overdue table becomes `rows`: rewritten whole, so a changed ward or a backdated
    record's new dates are never left stale (COPY of 100,000 rows is a fraction of a second)."""
    driver = await asyncpg_connection(session)
    await driver.execute("DELETE FROM overdue_doses")
    await driver.copy_records_to_table("overdue_doses", records=rows, columns=_OVERDUE_COLUMNS)


def overdue_page_query(
    *, ward_code: str, month: tuple[date, date] | None, after: OverdueKey | None, limit: int
) -> Select[OverdueDose, Child]:
    query = (
        select(OverdueDose, Child)
        .join(Child, Child.person_no == OverdueDose.person_no)
        .where(OverdueDose.ward_code == ward_code)
        .order_by(OverdueDose.person_no, OverdueDose.vaccine, OverdueDose.dose_no)
        .limit(limit)
    )
    if month is not None:
        query = query.where(OverdueDose.overdue_from.between(*month))
    if after is not None:
        query = query.where(
            tuple_(OverdueDose.person_no, OverdueDose.vaccine, OverdueDose.dose_no) > tuple_(*after)
        )
    return query
