"""A month's checkup target and non-attendee lists read page by page (GET /checkups/targets,
/checkups/non-attendees) over the synthetic city of bench/checkup_extraction.py.

After the month's extraction, each list is walked to its end in pages of 500 through boshi_core's
service functions (each page its own transaction with its access record naming the page's
children), city-wide. Timed per page: wall and process CPU. The ceiling, in the same run: the
same pages by raw asyncpg, each in a transaction with its access record's INSERT: the keyset
query on checkup_notices joined with the read model for the targets, the hand-written
non-attendee query of checkup_extraction.py cut into pages by person number. The targets are
walked again without migration 0017's index (the one it replaced restored), to show what the
index is for.

Usage: python bench/checkup_list_pages.py [--children 1000000] [--month 2026-12] [--limit 500]
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
from _common import result_line, scratch_database
from checkup_extraction import HAND_NON_ATTENDEES, birth_range, ours, populate

from boshi_core.checkups.service import PURPOSE, list_non_attendees, list_targets
from boshi_core.checkups.windows import Period
from boshi_core.migrate import MIGRATIONS
from mch_common.auth.principal import Principal
from mch_common.db import asyncpg_dsn, create_engine, session_factory, unit_of_work
from mch_common.migrations import upgrade_async

PROGRAMME = ("3y", 36, 48, 60)  # the widest window: the longest lists
STAFF = Principal(
    sub="bench-staff", tenant="401005", scopes=frozenset({"boshi:checkup:read"}), terminal="t1"
)

HAND_TARGETS = """
SELECT n.id, n.person_no, n.ward_code, n.household_key, n.reason, n.window_start,
       n.window_end, p.family_name, p.given_name, p.birth_date, p.ward_code AS person_ward
FROM checkup_notices n LEFT JOIN people p ON p.person_no = n.person_no
WHERE n.period = $1 AND n.kind = 'invitation' AND n.programme_code = $2
  AND (COALESCE(n.ward_code, ''), n.household_key, n.person_no) > ($3, $4, $5)
ORDER BY COALESCE(n.ward_code, ''), n.household_key, n.person_no
LIMIT $6
"""
HAND_RECORD = """
INSERT INTO audit_log (occurred_at, actor, terminal, action, target_type, target_id, purpose,
                       outcome, detail, persons)
VALUES (now(), 'bench-staff', 't1', $1, 'checkup_programme', $2, $3, 'success', $4, $5)
"""

Walk = Callable[[str | None], Awaitable[tuple[int, str | None]]]


async def timed_walk(walk: Walk) -> tuple[list[float], list[float], int]:
    """Every page to the end: wall and process CPU seconds per page, rows seen."""
    walls: list[float] = []
    cpus: list[float] = []
    rows, cursor = 0, None
    while True:
        wall, cpu = time.perf_counter(), time.process_time()
        count, cursor = await walk(cursor)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        rows += count
        if cursor is None:
            return walls, cpus, rows


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def main(children: int, month: str, limit: int) -> None:
    period = Period.parse(month)
    code, start, end, days = PROGRAMME
    lo, hi = birth_range(period, start, end)
    async with scratch_database("checkup_pages") as url:
        print("migrating ...", flush=True)
        await upgrade_async(MIGRATIONS, url)
        print(f"generating {children:,} children in SQL ...", flush=True)
        made = await populate(url, children, period)
        print(f"  {made['people']:,} people in {made['seconds']:.1f}s", flush=True)
        print(f"extraction of {month} ...", flush=True)
        await ours(url, period)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        await conn.execute("VACUUM ANALYZE checkup_notices")
        engine = create_engine(url, pool_size=2)
        sessions = session_factory(engine)

        async def our_targets(cursor: str | None) -> tuple[int, str | None]:
            async with unit_of_work(sessions) as session:
                page = await list_targets(
                    session,
                    principal=STAFF,
                    programme=code,
                    period=period,
                    limit=limit,
                    cursor=cursor,
                )
            return len(page.invitations), page.next_cursor

        async def our_absent(cursor: str | None) -> tuple[int, str | None]:
            async with unit_of_work(sessions) as session:
                page = await list_non_attendees(
                    session,
                    principal=STAFF,
                    programme=code,
                    period=period,
                    limit=limit,
                    cursor=cursor,
                )
            return len(page.children), page.next_cursor

        async def log(action: str, rows: list[asyncpg.Record]) -> None:
            await conn.execute(
                HAND_RECORD,
                action,
                code,
                PURPOSE,
                json.dumps({"month": str(period), "count": len(rows)}),
                [r["person_no"] for r in rows],
            )

        async def hand_targets(cursor: str | None) -> tuple[int, str | None]:
            key = cursor.split("|") if cursor else ["", "", ""]
            async with conn.transaction():
                rows = await conn.fetch(HAND_TARGETS, period.first, code, *key, limit)
                await log("checkup.targets.view", rows)
            last = rows[-1] if len(rows) == limit else None
            return len(rows), (
                f"{last['ward_code'] or ''}|{last['household_key']}|{last['person_no']}"
                if last
                else None
            )

        # The hand-written non-attendees, keyset by person number over the same query.
        hand_absent_sql = (
            HAND_NON_ATTENDEES + " AND p.person_no > $9 ORDER BY p.person_no LIMIT $10"
        )

        async def hand_absent(cursor: str | None) -> tuple[int, str | None]:
            async with conn.transaction():
                await conn.execute("SET LOCAL jit = off")
                rows = await conn.fetch(
                    hand_absent_sql,
                    period.first,
                    period.last,
                    start,
                    end,
                    days,
                    code,
                    lo,
                    hi,
                    cursor or "",
                    limit,
                )
                await log("checkup.non_attendees.view", rows)
            return len(rows), rows[-1]["person_no"] if len(rows) == limit else None

        try:
            await our_targets(None)  # warm the caches and the pool
            ceiling_t = await timed_walk(hand_targets)
            value_t = await timed_walk(our_targets)
            ceiling_a = await timed_walk(hand_absent)
            value_a = await timed_walk(our_absent)
            await conn.execute("DROP INDEX ix_checkup_notices_list_order")
            await conn.execute(
                "CREATE INDEX ix_checkup_notices_period_kind_programme "
                "ON checkup_notices (period, kind, programme_code)"
            )
            await conn.execute("ANALYZE checkup_notices")
            await our_targets(None)
            without_index = await timed_walk(our_targets)
        finally:
            await conn.close()
            await engine.dispose()
    for name, value, ceiling in (
        ("checkup_targets_page", value_t, ceiling_t),
        ("checkup_non_attendees_page", value_a, ceiling_a),
    ):
        walls, cpus, rows = value
        print(
            result_line(
                name,
                ms(walls),
                "ms",
                ceiling=ms(ceiling[0]),
                programme=code,
                month=month,
                limit=limit,
                pages=len(walls),
                rows=rows,
                ceiling_rows=ceiling[2],
                p95_ms=round(sorted(walls)[int(len(walls) * 0.95)] * 1000, 2),
                cpu_ms_per_page=round(ms(cpus), 3),
                children=made["people"],
            )
        )
    walls, cpus, rows = without_index
    print(
        result_line(
            "checkup_targets_page_without_0017_index",
            ms(walls),
            "ms",
            ceiling=ms(ceiling_t[0]),
            limit=limit,
            pages=len(walls),
            rows=rows,
            cpu_ms_per_page=round(ms(cpus), 3),
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--children", type=int, default=1_000_000)
    parser.add_argument("--month", default="2026-12")
    parser.add_argument("--limit", type=int, default=500)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.children, arguments.month, arguments.limit))
