"""The overdue request list (開示等請求の期限超過一覧) over a large register: pages of 50 walked
through boshi_core's service function (SQLAlchemy, the keyset cursor, the access record of each
page, committed), against the same work done directly through asyncpg (the ceiling: the keyset
query and the access record's INSERT, one transaction per page).

Creates and drops its own database. Prints one JSON line:
{"bench": "request_overdue", "value": X, "unit": "pages/s", "target": 100, "ceiling": C, ...}
"""

import asyncio
import json
import os
import sys
import time
import uuid
from datetime import date, timedelta

import asyncpg
from _common import result_line, scratch_database

from boshi_core.migrate import MIGRATIONS
from boshi_core.requests import service
from mch_common.auth.principal import Principal
from mch_common.db import asyncpg_dsn, create_engine, session_factory, unit_of_work
from mch_common.ids import uuid7
from mch_common.migrations import upgrade_async

TARGET = 100  # pages of 50 per second: a clerk paging through the list never waits
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "100000"))
PAGES = int(os.environ.get("BENCH_PAGES", "150"))  # of about 200 overdue pages
AS_OF = date(2026, 12, 1)
STAFF = Principal(sub="bench-staff", tenant="401005", scopes=frozenset(), terminal="HQ-01")

# The ceiling: the service's query, written by hand.
CEILING_QUERY = """
SELECT * FROM personal_data_requests
WHERE status = 'received' AND COALESCE(extended_to, deadline) < $1
  AND (COALESCE(extended_to, deadline), id) > ($2, $3)
ORDER BY COALESCE(extended_to, deadline), id LIMIT 51
"""
CEILING_RECORD = """
INSERT INTO audit_log (occurred_at, actor, terminal, action, target_type, purpose, outcome,
                       detail, persons)
VALUES (now(), 'bench-staff', 'HQ-01', 'request.list_overdue', 'personal_data_request_list',
        $1, 'success', $2, $3)
"""


async def seed(dsn: str) -> None:
    """A register of REQUESTS requests over ten years, a tenth still undecided."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = []
        for i in range(REQUESTS):
            received = date(2017, 1, 1) + timedelta(days=i % 3650)
            status = "received" if i % 10 == 0 else "fulfilled"
            rows.append(
                (
                    uuid7(),
                    f"{1000000000 + i:010d}",
                    "disclosure",
                    json.dumps({"kind": "self", "id_document": "passport"}),
                    "保有個人情報の開示",
                    "{}",
                    received,
                    received + timedelta(days=30),
                    status,
                    "bench",
                )
            )
        await conn.copy_records_to_table(
            "personal_data_requests",
            records=rows,
            columns=[
                "id", "person_no", "kind", "requester", "asked", "items", "received_on",
                "deadline", "status", "received_by",
            ],
        )  # fmt: skip
        await conn.execute("ANALYZE personal_data_requests")
    finally:
        await conn.close()


async def through_the_service(url: str) -> float:
    engine = create_engine(url, pool_size=2)
    sessions = session_factory(engine)
    try:
        started = time.perf_counter()
        cursor: str | None = None
        for _ in range(PAGES):
            async with unit_of_work(sessions) as session:
                page = await service.overdue(
                    session, principal=STAFF, as_of=AS_OF, limit=50, cursor=cursor
                )
            cursor = page.next_cursor
            if cursor is None:
                raise SystemExit("the register ran out of pages: raise BENCH_REQUESTS")
        return PAGES / (time.perf_counter() - started)
    finally:
        await engine.dispose()


async def handwritten(dsn: str) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        after_due, after_id = date.min, uuid.UUID(int=0)
        for _ in range(PAGES):
            async with conn.transaction():
                rows = (await conn.fetch(CEILING_QUERY, AS_OF, after_due, after_id))[:50]
                await conn.execute(
                    CEILING_RECORD,
                    service.PURPOSE,
                    json.dumps({"as_of": AS_OF.isoformat(), "count": len(rows)}),
                    sorted({r["person_no"] for r in rows}),
                )
            last = rows[-1]
            after_due, after_id = last["deadline"], last["id"]
        return PAGES / (time.perf_counter() - started)
    finally:
        await conn.close()


async def main() -> None:
    async with scratch_database("request_overdue") as url:
        await upgrade_async(MIGRATIONS, url)
        print(f"seeding {REQUESTS} requests", file=sys.stderr, flush=True)
        await seed(asyncpg_dsn(url))
        ceiling = await handwritten(asyncpg_dsn(url))
        print(f"  ceiling {ceiling:.1f} pages/s", file=sys.stderr, flush=True)
        value = await through_the_service(url)
        print(f"  service {value:.1f} pages/s", file=sys.stderr, flush=True)
    print(
        result_line(
            "request_overdue",
            value,
            "pages/s",
            target=TARGET,
            ceiling=ceiling,
            requests=REQUESTS,
            pages=PAGES,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
