"""Batch export for business systems: the current record of every person, CSV, streamed with
COPY. The My Number is never exported."""

import codecs
from collections.abc import Callable
from datetime import datetime
from typing import BinaryIO

import asyncpg

EXPORT_HEADER = (
    "person_no",
    "external_key",
    "residence_status",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "sex",
    "birth_date",
    "death_date",
    "postal_code",
    "prefecture",
    "municipality_code",
    "ward_code",
    "town",
    "block",
    "building",
    "household_no",
    "relationship_to_head",
    "phone",
    "email",
    "mother_person_no",
    "version",
    "updated_at",
    "delivery_addresses",
)


def _geta(error: UnicodeError) -> tuple[str, int]:
    """Characters Shift_JIS cannot hold become 〓 (geta), as registry systems print them."""
    if not isinstance(error, UnicodeEncodeError):
        raise error  # only encoding errors are replaced
    return "〓" * (error.end - error.start), error.end


codecs.register_error("atena_geta", _geta)


async def export_csv(
    conn: asyncpg.Connection,
    out: BinaryIO,
    *,
    encoding: str = "utf-8",
    ward_code: str | None = None,
    residence_status: str | None = None,
    changed_since: datetime | None = None,
) -> int:
    """Writes the CSV; returns the number of people exported."""
    conditions: list[str] = []
    args: list[object] = []
    for column, value in (("ward_code", ward_code), ("residence_status", residence_status)):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    if changed_since is not None:
        args.append(changed_since)
        conditions.append(f"updated_at >= ${len(args)}")
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    columns = ", ".join(
        "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        if c == "updated_at"
        else c
        for c in EXPORT_HEADER
    )
    query = f"SELECT {columns} FROM person {where} ORDER BY person_no"  # noqa: S608 - identifiers from module constants; values are bound

    write: Callable[[bytes], object]
    if encoding.replace("-", "").replace("_", "").lower() in ("utf8", "utf8sig"):
        if encoding.lower().endswith("sig"):
            out.write(codecs.BOM_UTF8)
        write = out.write
    else:
        decoder = codecs.getincrementaldecoder("utf-8")()
        encoder = codecs.getincrementalencoder(encoding)(errors="atena_geta")

        def write(chunk: bytes) -> None:
            out.write(encoder.encode(decoder.decode(chunk)))

    write((",".join(EXPORT_HEADER) + "\n").encode("ascii"))

    async def sink(chunk: bytes) -> None:
        write(chunk)

    status = await conn.copy_from_query(query, *args, output=sink, format="csv")
    return int(str(status).rsplit(" ", 1)[-1])
