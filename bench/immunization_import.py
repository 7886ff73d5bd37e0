"""immunization_bridge: import 100,000 vaccination records from one cp932 batch file, then the
overdue check over 100,000 children (each dose's status recomputed from rules and records).

    .venv/bin/python bench/immunization_import.py [--records 100000] [--children 100000]

Untimed: 100,000 children born over the last 13 years go into the child register (COPY), and
the register's file is written as cp932 CSV with full-width digits in one line in ten and some
Japanese era dates. Timed:
1. the import through the service function (decode, validate every line, apply in file order,
   COPY into a temporary table and one upsert, the import record and its audit record); the
   ceiling is a COPY of the same rows, already parsed, into a plain table;
2. the overdue check (`run_overdue_check`: every child's doses, the overdue table's changes and
   one outbox batch row of immunization.dose.overdue events); the ceiling reads the same
   children and records and COPYs the same overdue rows into a plain table (the database work
   alone, no computation).
3. a file for the register (files out) of as many changes as children (`register_files.build`:
   read the pending changes, write the cp932 CSV, keep it with its run record, mark the
   changes taken); the ceiling is PostgreSQL's own COPY of the same rows to CSV, encoded cp932.
Targets: each under 10 s. It creates and drops its own database (the test servers'
PostgreSQL: BENCH_DATABASE_URL or 127.0.0.1).
"""

import argparse
import asyncio
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
from _common import result_line, scratch_database

import immunization_bridge
from immunization_bridge.records.parse import HEADER
from immunization_bridge.records.service import import_file
from immunization_bridge.register_files.service import Actor, build
from immunization_bridge.status.service import run_overdue_check
from mch_common.db import asyncpg_dsn, create_engine, session_factory, unit_of_work
from mch_common.migrations import upgrade_async
from mch_common.person_numbers import person_no_from_serial

MIGRATIONS = Path(immunization_bridge.__file__).parent / "migrations"
TODAY = date(2026, 12, 2)
WARDS = ("401013", "401021", "401030", "401048", "401056", "401064", "401072")
# Doses a child of a given age may have had, in the order given (vaccine, dose, age in days).
SCHEDULE = [
    ("hepb", 1, 62),
    ("hepb", 2, 90),
    ("dpt_ipv_hib", 1, 62),
    ("pcv", 1, 62),
    ("bcg", 1, 160),
    ("hepb", 3, 220),
    ("dpt_ipv_hib", 2, 95),
    ("pcv", 2, 95),
    ("mr", 1, 370),
    ("varicella", 1, 370),
]
WIDE = str.maketrans("0123456789", "０１２３４５６７８９")


def children(count: int) -> list[tuple[object, ...]]:
    rng = random.Random(16)
    rows: list[tuple[object, ...]] = []
    for serial in range(count):
        birth = TODAY - timedelta(days=rng.randrange(1, 13 * 365))
        status = "moved_out" if serial % 50 == 0 else "resident"
        rows.append(
            (
                person_no_from_serial(100_000_001 + serial),
                1,
                status,
                "山田",
                "花子",
                "ヤマダ",
                "ハナコ",
                "female",
                birth,
                None,
                WARDS[serial % len(WARDS)],
                "atena.person.born",
            )
        )
    return rows


def batch_file(
    people: list[tuple[object, ...]], count: int
) -> tuple[bytes, list[tuple[object, ...]]]:
    """The register's file (cp932) and the same records as parsed rows (for the ceiling)."""
    rng = random.Random(61)
    lines = [",".join(HEADER)]
    parsed: list[tuple[object, ...]] = []
    for index in range(count):
        person_no, birth = str(people[index % len(people)][0]), people[index % len(people)][8]
        assert isinstance(birth, date)
        vaccine, dose, age = SCHEDULE[(index // len(people)) % len(SCHEDULE)]
        given = min(birth + timedelta(days=age + rng.randrange(0, 30)), TODAY)
        record_id = f"R{index:09d}"
        if index % 10 == 0:
            written_no, written_date = (
                person_no.translate(WIDE),
                f"令和{given.year - 2018}年{given.month}月{given.day}日",
            )
            if given < date(2019, 5, 1):
                written_date = given.strftime("%Y/%m/%d")
        else:
            written_no, written_date = person_no, given.isoformat()
        lines.append(
            f"{record_id},A,{written_no},{vaccine},{dose},{written_date},LOT{index % 97},4010012345"
        )
        parsed.append(
            (
                record_id,
                person_no,
                vaccine,
                dose,
                given,
                f"LOT{index % 97}",
                "4010012345",
                True,
                False,
                1,
                index + 2,
            )
        )
    return ("\r\n".join(lines) + "\r\n").encode("cp932"), parsed


async def ceiling_copy(url: str, rows: list[tuple[object, ...]]) -> float:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute("CREATE TABLE ceiling_records (LIKE vaccination_records)")
        started = time.perf_counter()
        await conn.copy_records_to_table("ceiling_records", records=rows)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def ceiling_recompute(url: str) -> float:
    """Read what the check reads, write the overdue rows it wrote, without computing."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        overdue = await conn.fetch("SELECT * FROM overdue_doses")
        await conn.execute("CREATE TABLE ceiling_overdue (LIKE overdue_doses)")
        started = time.perf_counter()
        await conn.fetch(
            "SELECT person_no, birth_date, residence_status, ward_code FROM child_register"
        )
        await conn.fetch(
            "SELECT person_no, vaccine, dose_no, given_on FROM vaccination_records"
            " WHERE NOT deleted"
        )
        await conn.copy_records_to_table("ceiling_overdue", records=[tuple(r) for r in overdue])
        return time.perf_counter() - started
    finally:
        await conn.close()


CHANGE_COLUMNS = (
    "event_id",
    "change",
    "person_no",
    "effective_date",
    "version",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "sex",
    "birth_date",
    "ward_code",
)


async def pending_changes(url: str, people: list[tuple[object, ...]]) -> None:
    """Untimed: a birth each, as the atena consumer records them."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.copy_records_to_table(
            "register_changes",
            records=[
                (f"bench-{p[0]}", "born", p[0], p[8], 1, *p[3:7], p[7], p[8], p[10]) for p in people
            ],
            columns=CHANGE_COLUMNS,
        )
        await conn.execute("VACUUM ANALYZE register_changes")
    finally:
        await conn.close()


async def ceiling_file(url: str) -> float:
    """PostgreSQL writes the same lines as CSV itself; only the cp932 encoding is Python's."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        chunks: list[bytes] = []

        async def keep(chunk: bytes) -> None:
            chunks.append(chunk)

        started = time.perf_counter()
        await conn.copy_from_query(
            "SELECT id, change, effective_date, person_no, family_name, given_name,"
            " family_name_kana, given_name_kana, sex, birth_date, death_date, ward_code,"
            " other_municipality_code, version FROM register_changes WHERE run_id IS NULL"
            " ORDER BY id",
            output=keep,
            format="csv",
        )
        b"".join(chunks).decode().encode("cp932")
        return time.perf_counter() - started
    finally:
        await conn.close()


async def files_out(url: str, people: list[tuple[object, ...]]) -> None:
    await pending_changes(url, people)
    ceiling = await ceiling_file(url)
    print(f"ceiling: COPY TO csv of the changes, cp932 {ceiling:.2f}s", flush=True)
    engine = create_engine(url, pool_size=1)
    try:
        started = time.perf_counter()
        async with unit_of_work(session_factory(engine)) as session:
            run = await build(
                session,
                actor=Actor(operator="bench"),
                on=TODAY,
                on_progress=lambda m: print("  " + m, flush=True),
            )
        built = time.perf_counter() - started
    finally:
        await engine.dispose()
    if run.changes != len(people):
        raise SystemExit(f"the file took {run.changes} of {len(people)} changes")
    print(f"files out: {built:.2f}s, {run.size_bytes / 1e6:.1f} MB", flush=True)
    print(
        result_line(
            "immunization_register_file",
            built,
            "s",
            target=10,
            ceiling=ceiling,
            changes=run.changes,
        )
    )


async def main(records: int, count: int) -> None:
    async with scratch_database("immunization") as url:
        print("migrating ...", flush=True)
        await upgrade_async(MIGRATIONS, url)
        people = children(count)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        await conn.copy_records_to_table(
            "child_register",
            records=people,
            columns=(
                "person_no",
                "version",
                "residence_status",
                "family_name",
                "given_name",
                "family_name_kana",
                "given_name_kana",
                "sex",
                "birth_date",
                "death_date",
                "ward_code",
                "last_event_type",
            ),
        )
        await conn.execute("VACUUM ANALYZE child_register")
        await conn.close()
        data, parsed = batch_file(people, records)
        print(
            f"{count:,} children; file of {records:,} records, {len(data) / 1e6:.1f} MB cp932",
            flush=True,
        )

        ceiling = await ceiling_copy(url, parsed)
        print(f"ceiling: COPY of the parsed rows {ceiling:.2f}s", flush=True)
        engine = create_engine(url, pool_size=1)
        try:
            started = time.perf_counter()
            async with unit_of_work(session_factory(engine)) as session:
                report = await import_file(
                    session,
                    data=data,
                    filename="bench.csv",
                    actor="bench",
                    today=TODAY,
                    on_progress=lambda m: print("  " + m, flush=True),
                )
            imported = time.perf_counter() - started
            if report.accepted != records:
                raise SystemExit(f"import kept {report.accepted} of {records}: {report.errors[:5]}")
            print(f"import: {imported:.2f}s", flush=True)
            print(
                result_line(
                    "immunization_import",
                    imported,
                    "s",
                    target=10,
                    ceiling=ceiling,
                    records=records,
                )
            )

            started = time.perf_counter()
            async with unit_of_work(session_factory(engine)) as session:
                run = await run_overdue_check(
                    session,
                    on=TODAY,
                    tenant="401005",
                    on_progress=lambda m: print("  " + m, flush=True),
                )
            recomputed = time.perf_counter() - started
        finally:
            await engine.dispose()
        print(f"overdue check: {recomputed:.2f}s {run.model_dump(mode='json')}", flush=True)
        recompute_ceiling = await ceiling_recompute(url)
        print(f"ceiling: read and COPY without computing {recompute_ceiling:.2f}s", flush=True)
        print(
            result_line(
                "immunization_status_recompute",
                recomputed,
                "s",
                target=10,
                ceiling=recompute_ceiling,
                children=run.children,
                overdue=run.overdue,
            )
        )
        await files_out(url, people)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--children", type=int, default=100_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.records, arguments.children))
