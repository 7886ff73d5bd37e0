"""The outbox relay alone: CPU a round and an event, of the relay's process and of PostgreSQL.

    .venv/bin/python bench/relay_rounds.py

For each claim size (1, 10, 60 and 1,000 events a round: a replica under a stream of writes
publishes every `busy_interval`, 50 ms, about 60 events a round at 1,200 writes/s), N
notification events are written to boshi_core's outbox, then published by `relay_once` until
none is left: this process's CPU time (the relay, its NATS client) and the CPU time of the
database's PostgreSQL backends, a round and an event. The events' stream is JetStream's, on
the local server; the database and the stream namespace are the bench's own.
"""

import asyncio
import gc
import json
import os
import sys
import time

import asyncpg
from _common import result_line
from request_path import BackendClock

from boshi_core.migrate import MIGRATIONS
from mch_common.db import asyncpg_dsn, create_database, create_engine, drop_database, with_database
from mch_common.events import EventBus
from mch_common.events.relay import OutboxRelay
from mch_common.ids import uuid7
from mch_common.migrations import upgrade_async
from mch_testing.servers import LOCAL_NATS, LOCAL_POSTGRES

# (events a round, events published at that size)
SIZES = ((1, 600), (10, 3000), (60, 6000), (1000, 6000))


def say(message: str) -> None:
    sys.stderr.write(f"relay_rounds: {message}\n")
    sys.stderr.flush()


def events(count: int) -> list[tuple[object, str, str]]:
    """Outbox rows as a notification's unit of work writes them (id, subject, envelope)."""
    rows: list[tuple[object, str, str]] = []
    for n in range(count):
        event_id = uuid7()
        envelope = {
            "specversion": "1.0",
            "id": str(event_id),
            "source": "urn:mch:401005:boshi_core",
            "type": "boshi.pregnancy.opened",
            "subject": str(event_id),
            "time": "2026-12-06T00:00:00+00:00",
            "datacontenttype": "application/json",
            "data": {"pregnancy_id": str(event_id), "person_no": f"6{n:09d}"},
            "tenant": "401005",
            "correlationid": str(uuid7()),
        }
        rows.append((event_id, "boshi.pregnancy.opened", json.dumps(envelope)))
    return rows


async def main() -> None:
    name = f"bench_relay_{os.getpid()}"
    await create_database(LOCAL_POSTGRES, name)
    url = with_database(LOCAL_POSTGRES, name)
    bus = await EventBus.connect(LOCAL_NATS, namespace=f"benchrelay{os.getpid()}", name="bench")
    engine = create_engine(url, pool_size=2)
    admin = await asyncpg.connect(asyncpg_dsn(url))
    lines = []
    try:
        await upgrade_async(MIGRATIONS, url)
        await bus.ensure_stream("boshi")
        clock = BackendClock(admin, name)
        for size, count in SIZES:
            await admin.executemany(
                "INSERT INTO outbox (event_id, subject, envelope) VALUES ($1, $2, $3::jsonb)",
                events(count),
            )
            relay = OutboxRelay(engine, bus.nc, bus.naming, batch_size=size)
            await relay.relay_once()  # the first round opens the connection and subscribes
            db_before, cpu_before = await clock.read(), time.process_time()
            rounds = published = 0
            while published_now := await relay.relay_once():
                rounds += 1
                published += published_now
            cpu, db = (
                time.process_time() - cpu_before,
                BackendClock.spent(db_before, await clock.read()),
            )
            say(f"{size} a round: {published} events in {rounds} rounds")
            lines.append(
                result_line(
                    f"relay_round_{size}",
                    cpu / rounds * 1e6,
                    "µs CPU/round (the relay's process)",
                    events_per_round=size,
                    cpu_us_per_event=round(cpu / published * 1e6, 1),
                    db_cpu_us_per_event=round(db / published * 1e6, 1),
                    db_cpu_us_per_round=round(db / rounds * 1e6, 1),
                )
            )
    finally:
        await admin.close()
        await engine.dispose()
        await bus.delete_namespace()
        await bus.close()
        await drop_database(LOCAL_POSTGRES, name)
    for line in lines:
        print(line)


if __name__ == "__main__":
    # As a service process runs (mch_common.runtime): the collector's pauses are not the relay's.
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    sys.exit(asyncio.run(main()))
