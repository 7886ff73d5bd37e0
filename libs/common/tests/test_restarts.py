"""NATS or PostgreSQL restarting mid-flow: nothing is lost and nothing is applied twice.
Each test runs a server of its own (the embedded ones) so it can stop and start it."""

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from mch_common.db import (
    create_database,
    create_engine,
    session_factory,
    unit_of_work,
    with_database,
)
from mch_common.events import CloudEvent, EventBus, EventConsumer, OutboxRelay
from mch_common.events import relay as relay_module
from mch_common.work import UnitOfWork
from mch_testing import servers
from mch_testing.app import free_port
from mch_testing.embedded import embedded_nats, start_embedded_postgres

EVENT = "restart.thing.happened"


async def record(session: AsyncSession, event: CloudEvent) -> None:
    await session.execute(text("INSERT INTO applied_restart VALUES (:id)"), {"id": event.id})


async def emit(sessions: async_sessionmaker[AsyncSession], n: int) -> list[str]:
    async with unit_of_work(sessions) as s:
        work = UnitOfWork.of(s)
        return [
            work.emit(source="test", type=EVENT, data={"i": i}, tenant="401005") for i in range(n)
        ]


async def applied(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as s:
        return list((await s.execute(text("SELECT event_id FROM applied_restart"))).scalars())


async def until_applied(consumer: EventConsumer, count: int, seconds: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while consumer.applied < count and asyncio.get_running_loop().time() < deadline:
        try:
            await consumer.consume_once(timeout=0.3)
        except Exception:  # noqa: BLE001 - a server still coming back
            await asyncio.sleep(0.2)


@pytest.fixture
def data_root() -> Iterator[Path]:
    # As root, PostgreSQL runs as another account, which cannot enter pytest's 0700 tmp_path.
    path = Path(tempfile.mkdtemp(prefix="mch-restart-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def applied_table(owner_engine: AsyncEngine) -> None:
    async with owner_engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS applied_restart (event_id text)"))


async def test_nats_restart_mid_flow_loses_nothing_and_duplicates_nothing(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    applied_table: None,
    data_root: Path,
) -> None:
    port = free_port()
    store = data_root / "jetstream"
    with embedded_nats(store, port) as url:
        bus = await EventBus.connect(url, namespace="restart", name="restart-test")
        await bus.ensure_stream("restart")
        consumer = EventConsumer(
            bus,
            committed_sessions,
            name="restart",
            stream_service="restart",
            handlers={EVENT: record},
        )
        await consumer.start()
        first = await emit(committed_sessions, 20)
        relay = OutboxRelay(engine, bus.nc, bus.naming)
        assert await relay.relay_once() == 20
        await until_applied(consumer, 20)
    # NATS is down: the business keeps writing; the relay fails and keeps the rows.
    second = await emit(committed_sessions, 20)
    with pytest.raises(Exception):  # noqa: B017, PT011 - a timeout or a connection error
        await relay.relay_once()
    with embedded_nats(store, port):
        for _ in range(100):
            if bus.nc.is_connected:
                break
            await asyncio.sleep(0.1)
        assert await relay.relay_once() == 20
        await until_applied(consumer, 40)
        await consumer.consume_once(timeout=0.3)
        await consumer.close()
        await bus.close(drain=False)
    assert sorted(await applied(committed_sessions)) == sorted(first + second)


async def test_postgres_restart_mid_flow_loses_nothing_and_duplicates_nothing(
    bus: EventBus, data_root: Path
) -> None:
    port = free_port()
    server = start_embedded_postgres(data_root / "pg", port)
    try:
        await create_database(server.url, "restart")
        url = with_database(server.url, "restart")
        await servers.create_platform_schema(url)
        engine = create_engine(url, pool_size=2)  # pre-ping: a restarted server is noticed
        sessions = session_factory(engine)
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE applied_restart (event_id text PRIMARY KEY)"))
        await bus.ensure_stream("restart")
        consumer = EventConsumer(
            bus,
            sessions,
            name="pgrestart",
            stream_service="restart",
            handlers={EVENT: record},
            ack_wait=30.0,  # longer than the wait below: only the hand-back brings them back
        )
        await consumer.start()
        relay = OutboxRelay(engine, bus.nc, bus.naming)
        first = await emit(sessions, 20)
        assert await relay.relay_once() == 20
        await until_applied(consumer, 20)

        server.stop()
        # PostgreSQL is down: events already in JetStream cannot be applied, so none is acked.
        orphan = CloudEvent(source="test", type=EVENT, data={"i": -1}, tenant="401005")
        await bus.js.publish(bus.naming.subject(EVENT), orphan.to_json_bytes())
        with pytest.raises(Exception):  # noqa: B017, PT011 - connection refused
            await relay.relay_once()
        with pytest.raises(Exception):  # noqa: B017, PT011 - connection refused
            await consumer.consume_once(timeout=1.0)

        server = start_embedded_postgres(data_root / "pg", port)
        second = await emit(sessions, 20)
        assert await relay.relay_once() == 20
        # The batch refused during the outage was handed back, then the new ones.
        await until_applied(consumer, 41, seconds=15)
        await consumer.consume_once(timeout=0.3)
        await consumer.close()
        assert sorted(await applied(sessions)) == sorted([*first, orphan.id, *second])
        await engine.dispose()
    finally:
        server.stop()


async def test_the_relay_retries_within_a_second_however_long_the_outage(
    bus: EventBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL away (nothing listens on the relay's port): the relay tries again 0.1 s
    after the first failure, doubling, but never waits longer than MAX_RETRY_DELAY, so the
    events written once the server is back go out within a second, not after a long backoff;
    after a success it polls at its idle interval again."""
    down = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none")
    relay = OutboxRelay(down, bus.nc, bus.naming)
    failing = relay.relay_once
    outage = 12  # failed rounds: far past the point where a doubling backoff passes 1 s
    errors: list[BaseException] = []
    waits: list[float] = []

    async def round_of_the_relay() -> int:
        if len(waits) >= outage:
            return 0  # the server is back, nothing pending
        try:
            return await failing()
        except Exception as exc:
            errors.append(exc)
            raise

    async def wait(seconds: float, *, woken: bool = False) -> None:
        waits.append(seconds)
        if len(waits) > outage:
            relay.stop()

    monkeypatch.setattr(relay, "relay_once", round_of_the_relay)
    monkeypatch.setattr(relay, "_sleep", wait)
    await asyncio.wait_for(relay.run(), timeout=60)
    await down.dispose()
    assert len(errors) == outage
    assert all(isinstance(e, OSError) for e in errors)  # refused: a real connection attempt
    assert waits[:outage] == [0.1, 0.2, 0.4, 0.8] + [relay_module.MAX_RETRY_DELAY] * 8
    assert waits[outage] == relay.idle_interval
