"""Monthly checkup target extraction and non-attendee lists over 1,000,000 synthetic children.

The synthetic city is made in SQL (generate_series, no Python row loop): births per day with a
seasonal and weekday pattern over five and a half years; 1% twins, sibling households, 3% moved
out, 2% registered non-residents, 0.05% deceased; checkup results for most children whose window
has passed (attendance 90-96%, plus part of those in the window now), and the previous month's
invitations. Timed: for all four programmes, boshi_core's extraction (the service function: one
INSERT ... SELECT of invitations, its audit record) and its non-attendee list. The ceiling is a
hand-written SQL query for the same lists (raw asyncpg, age rule inlined, the exact birth
range worked out by hand), its invitations written to a plain table keyed by child, programme
and month (no id, index, audit or count), in the same run.

Usage: python bench/checkup_extraction.py [--children 1000000] [--month 2026-12]
"""

import argparse
import asyncio
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg
from _common import result_line, scratch_database

from boshi_core.checkups.service import extract_month, require_rule
from boshi_core.checkups.windows import Period
from boshi_core.migrate import MIGRATIONS
from mch_common.dates import add_months_legal
from mch_common.db import asyncpg_dsn, create_engine, session_factory, unit_of_work
from mch_common.migrations import upgrade_async

FIRST_BIRTH = "2021-06-01"

# Births per day: base * seasonal (+/-8%, peak in late summer) * weekday (fewer at weekends),
# then one row per birth. Person numbers are 10 digits, the household shared by twins (1%)
# and by a younger sibling of an older child (every 9th child joins a household 400 days older).
POPULATE = """
WITH days AS (
    SELECT d::date AS day,
           $2::float8 * (1 + 0.08 * cos(2 * pi() * (extract(doy FROM d) - 240) / 365.0))
               * CASE WHEN extract(isodow FROM d) >= 6 THEN 0.8 ELSE 1.08 END AS expected
    FROM generate_series($1::date, $3::date, interval '1 day') d
), births AS (
    SELECT day, generate_series(1, greatest(1, round(expected)::int)) AS k FROM days
), numbered AS (
    SELECT day, row_number() OVER (ORDER BY day, k) AS i FROM births
)
INSERT INTO people (person_no, version, residence_status, family_name, given_name,
                    family_name_kana, given_name_kana, sex, birth_date, death_date,
                    municipality_code, ward_code, address, household_no, mother_person_no,
                    last_event_type)
SELECT lpad((1000000000 + i)::text, 10, '0'), 1,
       CASE WHEN i % 100 = 7 OR i % 100 = 37 OR i % 100 = 77 THEN 'moved_out'
            WHEN i % 50 = 13 THEN 'non_resident'
            WHEN i % 2000 = 999 THEN 'deceased'
            ELSE 'resident' END,
       '北九', '子' || (i % 1000), 'キタキュウ', 'コ',
       CASE WHEN i % 2 = 0 THEN 'male' ELSE 'female' END,
       day, CASE WHEN i % 2000 = 999 THEN day + 100 END,
       '401005',
       (ARRAY['401013','401021','401030','401064','401072','401081','401099'])[1 + i % 7],
       jsonb_build_object('postal_code', '8030812', 'prefecture', '福岡県',
                          'municipality_code', '401005', 'town', '小倉北区城内',
                          'block', (i % 50)::text || '-1'),
       'H' || CASE WHEN i % 100 = 51 THEN i - 1
                   WHEN i % 9 = 0 AND i > 6000 THEN i - 6000
                   ELSE i END,
       NULL,
       CASE WHEN i % 50 = 21 THEN 'atena.person.moved_in' ELSE 'atena.person.born' END
FROM numbered
WHERE i <= $4
"""

# Results: attendance per programme for windows that began before the month (most of them
# examined some weeks after the window opened); children in the window now partly attended.
RESULTS = """
INSERT INTO checkup_results (id, person_no, programme_code, examined_on, institution, ward_code,
                             height_cm, weight_kg, development, judgement, recorded_by)
SELECT gen_random_uuid(), p.person_no, g.code,
       legal_add_months(p.birth_date, g.start_months) + (abs(hashtext(p.person_no)) % 50),
       '北九州市 集団健診', p.ward_code, 65.0, 7.00, '{}'::jsonb,
       CASE WHEN abs(hashtext(p.person_no || g.code)) % 100 < 4 THEN 'follow_up'
            ELSE 'no_problem' END,
       'bench'
FROM people p
CROSS JOIN (VALUES ('4m', 3, 96), ('7m', 6, 94), ('1y6m', 18, 92), ('3y', 36, 90))
    AS g(code, start_months, rate)
WHERE legal_add_months(p.birth_date, g.start_months) + (abs(hashtext(p.person_no)) % 50)
      < $1::date
  AND abs(hashtext(g.code || p.person_no)) % 100 < g.rate
"""

# The ceiling: the same two lists, hand-written, the age rule inlined (no function, no CTE).
HAND_TABLE = """
CREATE TABLE hand_invitations (
    person_no varchar(10), programme_code varchar(10), period date, ward_code varchar(6),
    household_key varchar(40), window_start date, window_end date,
    PRIMARY KEY (person_no, programme_code, period)
)
"""

HAND_INVITATIONS = """
INSERT INTO hand_invitations
SELECT p.person_no, '{code}', $1, p.ward_code,
       coalesce(p.household_no, 'P' || p.person_no), s.d, e.d - 1
FROM people p,
LATERAL (SELECT (p.birth_date + make_interval(months => $3))::date
                + (extract(day FROM p.birth_date + make_interval(months => $3))
                   < extract(day FROM p.birth_date))::int AS d) s,
LATERAL (SELECT (p.birth_date + make_interval(months => $4))::date
                + (extract(day FROM p.birth_date + make_interval(months => $4))
                   < extract(day FROM p.birth_date))::int AS d) e
WHERE p.residence_status = 'resident' AND p.death_date IS NULL
  AND p.birth_date BETWEEN $5 AND $6
  AND s.d <= $2 AND e.d - 1 >= $1
  AND NOT EXISTS (SELECT 1 FROM checkup_notices n WHERE n.person_no = p.person_no
                  AND n.programme_code = '{code}' AND n.kind = 'invitation')
  AND NOT EXISTS (SELECT 1 FROM hand_invitations h WHERE h.person_no = p.person_no
                  AND h.programme_code = '{code}')
  AND NOT EXISTS (SELECT 1 FROM checkup_results r WHERE r.person_no = p.person_no
                  AND r.programme_code = '{code}')
"""

HAND_NON_ATTENDEES = """
SELECT p.person_no, p.ward_code, p.family_name, p.given_name, p.birth_date,
       e.d - 1 AS window_end
FROM people p,
LATERAL (SELECT (p.birth_date + make_interval(months => $3))::date
                + (extract(day FROM p.birth_date + make_interval(months => $3))
                   < extract(day FROM p.birth_date))::int AS d) s,
LATERAL (SELECT (p.birth_date + make_interval(months => $4))::date
                + (extract(day FROM p.birth_date + make_interval(months => $4))
                   < extract(day FROM p.birth_date))::int AS d) e
WHERE p.residence_status = 'resident' AND p.death_date IS NULL
  AND p.birth_date BETWEEN $7 AND $8
  AND s.d <= $2 AND e.d - 1 >= $1 AND e.d - 1 - $5::int <= $2
  AND NOT EXISTS (SELECT 1 FROM checkup_results r WHERE r.person_no = p.person_no
                  AND r.programme_code = $6)
"""


def birth_range(period: Period, start: int, end: int) -> tuple[date, date]:
    """Births whose window [start, end) months overlaps the month: the window is still open on
    its first day and already open on its last."""
    lo = period.first - timedelta(days=31 * end // 1 + 400)
    while add_months_legal(lo, end) <= period.first:
        lo += timedelta(days=1)
    hi = period.last
    while add_months_legal(hi, start) > period.last:
        hi -= timedelta(days=1)
    return lo, hi


async def populate(url: str, children: int, period: Period) -> dict[str, Any]:
    started = time.perf_counter()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        first = Period.parse(FIRST_BIRTH[:7]).first
        last = period.first.replace(day=1)
        days = (last - first).days
        # Slightly more per day than needed, cut at `children`.
        per_day = children / days * 1.02
        await conn.execute(POPULATE, first, per_day, last, children)
        count = await conn.fetchval("SELECT count(*) FROM people")
        await conn.execute(RESULTS, period.first)
        results = await conn.fetchval("SELECT count(*) FROM checkup_results")
        await conn.execute("VACUUM ANALYZE people")
        await conn.execute("VACUUM ANALYZE checkup_results")
    finally:
        await conn.close()
    return {"people": count, "results": results, "seconds": time.perf_counter() - started}


async def ours(url: str, period: Period) -> tuple[float, dict[str, tuple[int, int]]]:
    engine = create_engine(url, pool_size=2)
    sessions = session_factory(engine)
    counts: dict[str, tuple[int, int]] = {}
    try:
        started = time.perf_counter()
        for code in ("4m", "7m", "1y6m", "3y"):
            step = time.perf_counter()
            # The extraction's audit record goes through the unit of work, written at commit.
            async with unit_of_work(sessions) as session:
                rule = await require_rule(session, code, period)
                out, absent = await extract_month(session, rule=rule, period=period)
            counts[code] = (out.invited, len(absent))
            print(f"    {code}: {time.perf_counter() - step:.2f}s", flush=True)
        return time.perf_counter() - started, counts
    finally:
        await engine.dispose()


async def handwritten(url: str, period: Period) -> tuple[float, dict[str, tuple[int, int]]]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    windows = {"4m": (3, 7, 60), "7m": (6, 12, 60), "1y6m": (18, 24, 60), "3y": (36, 48, 60)}
    counts: dict[str, tuple[int, int]] = {}
    await conn.execute(HAND_TABLE)
    await conn.execute("CHECKPOINT")
    try:
        started = time.perf_counter()
        for code, (start, end, days) in windows.items():
            step = time.perf_counter()
            # The exact birth range, worked out by hand (add_months_legal is monotonic).
            lo, hi = birth_range(period, start, end)
            async with conn.transaction():
                await conn.execute("SET LOCAL jit = off")
                status = await conn.execute(
                    HAND_INVITATIONS.format(code=code),
                    period.first,
                    period.last,
                    start,
                    end,
                    lo,
                    hi,
                )
                invited = int(status.split()[-1])
                absent = await conn.fetch(
                    HAND_NON_ATTENDEES, period.first, period.last, start, end, days, code, lo, hi
                )
            counts[code] = (invited, len(absent))
            print(f"    {code}: {time.perf_counter() - step:.2f}s", flush=True)
        return time.perf_counter() - started, counts
    finally:
        await conn.close()


async def main(children: int, month: str) -> None:
    period = Period.parse(month)
    previous = Period.of(period.first - timedelta(days=1))
    async with scratch_database("checkups") as url:
        print("migrating ...", flush=True)
        await upgrade_async(MIGRATIONS, url)
        print(f"generating {children:,} children, moves and results in SQL ...", flush=True)
        made = await populate(url, children, period)
        print(
            f"  {made['people']:,} people, {made['results']:,} results in {made['seconds']:.1f}s",
            flush=True,
        )
        print(f"previous month {previous} extraction (untimed) ...", flush=True)
        await ours(url, previous)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        await conn.execute("VACUUM ANALYZE checkup_notices")
        # Flush the generated data now, so no checkpoint lands inside a timed section.
        await conn.execute("CHECKPOINT")
        await conn.close()

        # Hand-written first: it writes only to its own table, so both see the same database.
        print(f"hand-written SQL, {month}, four programmes ...", flush=True)
        ceiling, hand_counts = await handwritten(url, period)
        print(f"  {ceiling:.2f}s {hand_counts}", flush=True)
        conn = await asyncpg.connect(asyncpg_dsn(url))
        await conn.execute("CHECKPOINT")  # same starting point as the hand-written run
        await conn.close()
        print(f"boshi_core extraction and non-attendee lists, {month} ...", flush=True)
        value, our_counts = await ours(url, period)
        print(f"  {value:.2f}s {our_counts}", flush=True)
        if our_counts != hand_counts:
            raise SystemExit(f"lists differ: ours {our_counts}, hand-written {hand_counts}")
    print(
        result_line(
            "checkup_extraction",
            value,
            "s",
            target=10,
            ceiling=ceiling,
            children=made["people"],
            lists={k: {"invited": v[0], "non_attendees": v[1]} for k, v in our_counts.items()},
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--children", type=int, default=1_000_000)
    parser.add_argument("--month", default="2026-12")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.children, arguments.month))
