"""The records' SQL. A file's rows go in through COPY into a temporary table and one upsert:
100,000 lines in one round trip each way, not 100,000 statements."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from immunization_bridge.records.models import ImportFile
from mch_common.db import asyncpg_connection

COLUMNS = (
    "record_id",
    "person_no",
    "vaccine",
    "dose_no",
    "given_on",
    "lot",
    "institution_code",
    "person_known",
    "deleted",
    "file_id",
    "line_no",
)
_INCOMING = """
CREATE TEMPORARY TABLE incoming_records (LIKE vaccination_records) ON COMMIT DROP
"""
_UPSERT = f"""
INSERT INTO vaccination_records ({", ".join(COLUMNS)})
SELECT {", ".join(COLUMNS)} FROM incoming_records
ON CONFLICT (record_id) DO UPDATE SET
{", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])}
"""
_DELETE = """
UPDATE vaccination_records AS r SET deleted = true, file_id = $1, line_no = d.line_no
FROM unnest($2::text[], $3::int[]) AS d(record_id, line_no)
WHERE r.record_id = d.record_id
"""
_FILE_BY_HASH = select(ImportFile).where(ImportFile.sha256 == bindparam("sha256"))


async def file_by_hash(session: AsyncSession, sha256: str) -> ImportFile | None:
    return (await session.execute(_FILE_BY_HASH, {"sha256": sha256})).scalar_one_or_none()


async def live_record_ids(session: AsyncSession, ids: Sequence[str]) -> set[str]:
    """Those of `ids` that name a record not deleted."""
    driver = await asyncpg_connection(session)
    rows = await driver.fetch(
        "SELECT record_id FROM vaccination_records WHERE record_id = ANY($1::text[])"
        " AND NOT deleted",
        list(ids),
    )
    return {row[0] for row in rows}


async def known_people(session: AsyncSession, people: Sequence[str]) -> set[str]:
    driver = await asyncpg_connection(session)
    rows = await driver.fetch(
        "SELECT person_no FROM child_register WHERE person_no = ANY($1::text[])", list(people)
    )
    return {row[0] for row in rows}


async def write_records(
    session: AsyncSession,
    *,
    file_id: int,
    rows: Sequence[tuple[Any, ...]],
    deleted: Sequence[tuple[str, int]],
) -> None:
    """Upsert whole rows (in `COLUMNS` order) and mark `deleted` (record id, line) deleted."""
    driver = await asyncpg_connection(session)
    if rows:
        await driver.execute(_INCOMING)
        await driver.copy_records_to_table("incoming_records", records=rows, columns=COLUMNS)
        await driver.execute(_UPSERT)
        await driver.execute("DROP TABLE incoming_records")
    if deleted:
        ids, lines = zip(*deleted, strict=True)
        await driver.execute(_DELETE, file_id, list(ids), list(lines))
