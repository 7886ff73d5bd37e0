"""Events per second from outbox insert to handler commit, over real PostgreSQL and JetStream.

The ceiling is raw JetStream publishing (publish and await the ack) of the same number of
events in the same run. Usage: python bench/event_pipeline.py [--events N]
"""

import argparse
import asyncio
import contextlib
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import result_line, scratch_database
from nats.js.errors import NotFoundError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mch_common.db import create_engine, session_factory, unit_of_work
from mch_common.events import CloudEvent, EventBus, EventConsumer, OutboxRelay
from mch_common.work import UnitOfWork
from mch_testing import servers

TYPE = "bench.thing.happened"


async def raw_publish_rate(bus: EventBus, n: int) -> float:
    body = CloudEvent(source="bench", type=TYPE, data={"i": 0}, tenant="401005").to_json_bytes()
    subject = bus.naming.subject("bench.raw.published")
    started = time.perf_counter()
    for start in range(0, n, 500):
        await asyncio.gather(*(bus.js.publish(subject, body) for _ in range(min(500, n - start))))
    return n / (time.perf_counter() - started)


async def pipeline_rate(bus: EventBus, database_url: str, n: int) -> float:
    await servers.create_platform_schema(database_url)
    engine = create_engine(database_url, pool_size=5)
    sessions = session_factory(engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE applied (event_id text PRIMARY KEY, i int)"))

    async def apply(session: AsyncSession, event: CloudEvent) -> None:
        await session.execute(
            text("INSERT INTO applied VALUES (:id, :i)"), {"id": event.id, "i": event.data["i"]}
        )

    relay = OutboxRelay(engine, bus.nc, bus.naming)
    consumer = EventConsumer(
        bus, sessions, name="bench", stream_service="bench", handlers={TYPE: apply}, batch_size=500
    )
    await consumer.start()
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run())]

    started = time.perf_counter()
    written = 0
    last_report = started
    for start in range(0, n, 100):
        async with unit_of_work(sessions) as s:
            work = UnitOfWork.of(s)
            for i in range(start, min(start + 100, n)):
                work.emit(source="bench", type=TYPE, data={"i": i}, tenant="401005")
        written = min(start + 100, n)
        if time.perf_counter() - last_report > 1:
            print(f"  written {written}/{n}, applied {consumer.applied}", flush=True)
            last_report = time.perf_counter()
    while consumer.applied < n:
        await asyncio.sleep(0.01)
        if time.perf_counter() - last_report > 1:
            print(f"  applied {consumer.applied}/{n}", flush=True)
            last_report = time.perf_counter()
    elapsed = time.perf_counter() - started

    relay.stop()
    await consumer.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    async with engine.connect() as conn:
        applied = (await conn.execute(text("SELECT count(*) FROM applied"))).scalar_one()
    await engine.dispose()
    assert applied == n, f"expected {n} applied rows, found {applied}"
    return n / elapsed


async def main(n: int) -> None:
    namespace = f"bench{secrets.token_hex(3)}"
    with servers.nats_for_tests() as nats_url:
        bus = await EventBus.connect(nats_url, namespace=namespace, name="bench")
        try:
            await bus.ensure_stream("bench")
            print(f"raw JetStream publish of {n} events ...", flush=True)
            ceiling = await raw_publish_rate(bus, n)
            print(f"  {ceiling:,.0f} events/s", flush=True)
            print(f"outbox -> relay -> JetStream -> consumer -> commit, {n} events ...", flush=True)
            async with scratch_database("events") as url:
                rate = await pipeline_rate(bus, url, n)
            print(f"  {rate:,.0f} events/s", flush=True)
        finally:
            await bus.js.delete_stream(bus.naming.stream("bench"))
            with_dead = bus.naming.stream("deadletter")
            with contextlib.suppress(NotFoundError):  # only there if the consumer made it
                await bus.js.delete_stream(with_dead)
            await bus.close(drain=False)
    print(result_line("event_pipeline", rate, "events/s", target=1000, ceiling=ceiling))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    asyncio.run(main(parser.parse_args().events))
