"""The event backbone against real PostgreSQL and JetStream."""

import asyncio
import gc
import json
from datetime import timedelta
from typing import Any

import pytest
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import APIError, NoStreamResponseError, ServerError
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mch_common.audit_anchor import ANCHOR_STREAM, AuditAnchors
from mch_common.db import unit_of_work
from mch_common.events import CloudEvent, EventBus, EventConsumer, OutboxRelay
from mch_common.events import relay as relay_module
from mch_common.events.bus import EventNaming
from mch_common.events.outbox import MyNumberInEventError, watch_outbox
from mch_common.events.relay import published_events_cleanup, purge_published
from mch_common.events.tables import InboxEvent, OutboxEvent
from mch_common.jobs import cancelled
from mch_common.work import UnitOfWork

SERVICE = "demo"


@pytest.fixture
async def applied_table(owner_engine: AsyncEngine) -> None:
    async with owner_engine.begin() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS applied (event_id text, note text)"))


@pytest.fixture
async def stream(bus: EventBus) -> str:
    return await bus.ensure_stream(SERVICE)


async def record_applied(session: AsyncSession, event: CloudEvent) -> None:
    await session.execute(
        text("INSERT INTO applied (event_id, note) VALUES (:id, :note)"),
        {"id": event.id, "note": event.data.get("note", "")},
    )


async def applied_ids(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as s:
        return list(
            (await s.execute(text("SELECT event_id FROM applied ORDER BY event_id"))).scalars()
        )


async def emit(
    sessions: async_sessionmaker[AsyncSession], kind: str, n: int = 1, note: str = ""
) -> list[str]:
    ids = []
    async with unit_of_work(sessions) as s:
        for i in range(n):
            event_id = UnitOfWork.of(s).emit(
                source="test",
                type=f"{SERVICE}.{kind}.happened",
                subject=str(i),
                data={"note": note, "i": i},
                tenant="401005",
            )
            ids.append(event_id)
    return ids


async def drain(consumer: EventConsumer, *, until: int, rounds: int = 20) -> None:
    for _ in range(rounds):
        await consumer.consume_once(timeout=0.3)
        if consumer.applied >= until:
            return


def make_consumer(
    bus: EventBus, sessions: async_sessionmaker[AsyncSession], name: str, handler: Any, **kw: Any
) -> EventConsumer:
    """A durable named `name` reading only `demo.<name>.happened`, so tests don't see each other."""
    return EventConsumer(
        bus,
        sessions,
        name=name,
        stream_service=SERVICE,
        handlers={f"{SERVICE}.{name}.happened": handler},
        **kw,
    )


async def unsent_rows(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Outbox rows no relay has marked sent."""
    async with sessions() as s:
        count = await s.execute(select(func.count()).where(OutboxEvent.published_at.is_(None)))
    return int(count.scalar_one())


async def test_rolled_back_event_is_never_published(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    stream: str,
    applied_table: None,
) -> None:
    async def failing_change() -> None:
        async with unit_of_work(committed_sessions) as s:
            UnitOfWork.of(s).emit(
                source="test",
                type=f"{SERVICE}.rollback.happened",
                data={"note": "rolled back"},
                tenant="401005",
            )
            raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    kept = await emit(committed_sessions, "rollback", 1, note="kept")
    relay = OutboxRelay(engine, bus.nc, bus.naming)
    assert await relay.relay_once() == 1
    consumer = make_consumer(bus, committed_sessions, "rollback", record_applied)
    await drain(consumer, until=1)
    await asyncio.sleep(0.3)
    assert await consumer.consume_once(timeout=0.3) == 0
    async with committed_sessions() as s:
        notes = (await s.execute(text("SELECT event_id, note FROM applied"))).all()
    assert [(n.event_id, n.note) for n in notes] == [(kept[0], "kept")]


async def test_relay_killed_between_publish_and_mark_causes_no_duplicate(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    stream: str,
    applied_table: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emitted = await emit(committed_sessions, "relaykill", 5)
    relay = OutboxRelay(engine, bus.nc, bus.naming)
    real_mark = relay_module._MARK_SENT
    monkeypatch.setattr(
        relay_module, "_MARK_SENT", text("SELECT pg_terminate_backend(pg_backend_pid())")
    )
    with pytest.raises(Exception):  # noqa: B017, PT011 - the connection dies like a killed relay
        await relay.relay_once()
    monkeypatch.setattr(relay_module, "_MARK_SENT", real_mark)
    async with committed_sessions() as s:
        pending = (
            await s.execute(select(func.count()).where(OutboxEvent.published_at.is_(None)))
        ).scalar_one()
    assert pending == 5  # published, but not marked: a restarted relay publishes them again
    assert await OutboxRelay(engine, bus.nc, bus.naming).relay_once() == 5
    info = await bus.js.stream_info(stream)
    consumer = make_consumer(bus, committed_sessions, "relaykill", record_applied)
    await drain(consumer, until=5)
    await consumer.consume_once(timeout=0.3)
    applied = await applied_ids(committed_sessions)
    assert sorted(emitted) == [i for i in applied if i in emitted]  # each exactly once
    assert len(applied) == len(set(applied))
    assert info.state.messages >= 5


async def test_a_publish_jetstream_refuses_fails_the_round_and_leaves_its_rows_unsent(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    stream: str,
) -> None:
    """Acks awaited together: one event no stream takes (no responders) fails the whole
    round, its rows stay unsent, and no round is left waiting for its acks."""
    await emit(committed_sessions, "refused", 3)
    nowhere = EventNaming(namespace=f"{bus.naming.namespace}nostream")
    refused = OutboxRelay(engine, bus.nc, nowhere)
    with pytest.raises(NoStreamResponseError):
        await refused.relay_once()
    assert refused.acks.pending() == 0
    assert await unsent_rows(committed_sessions) == 3
    assert await OutboxRelay(engine, bus.nc, bus.naming).relay_once() == 3


async def test_an_event_jetstream_answers_with_an_error_fails_the_round(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    stream: str,
) -> None:
    """An ack that is JetStream's JSON error (a stream that takes no message this large) fails
    the round as a refusal: its rows stay unsent and go out once a stream takes them."""
    await emit(committed_sessions, "toolarge", 2)
    small = EventNaming(namespace=f"{bus.naming.namespace}small")
    await bus.js.add_stream(
        StreamConfig(
            name=small.stream(SERVICE),
            subjects=[small.subject(f"{SERVICE}.>")],
            storage=StorageType.MEMORY,
            max_msg_size=64,
        )
    )
    try:
        refused = OutboxRelay(engine, bus.nc, small)
        with pytest.raises(APIError, match="maximum"):
            await refused.relay_once()
        assert refused.acks.pending() == 0
    finally:
        await bus.js.delete_stream(small.stream(SERVICE))
    assert await unsent_rows(committed_sessions) == 2
    assert await OutboxRelay(engine, bus.nc, bus.naming).relay_once() == 2


class _Unacknowledged:
    """A NATS connection that sends nothing, so no ack ever comes."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.published = 0

    def new_inbox(self) -> str:
        return str(self.nc.new_inbox())

    async def subscribe(self, *args: Any, **kwargs: Any) -> Any:
        return await self.nc.subscribe(*args, **kwargs)

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        self.published += 1


async def test_a_round_whose_acks_do_not_come_fails_and_gives_its_waits_up(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    stream: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await emit(committed_sessions, "unacked", 2)
    monkeypatch.setattr(relay_module, "PUBLISH_TIMEOUT", 0.2)
    silent = _Unacknowledged(bus.nc)
    relay = OutboxRelay(engine, silent, bus.naming)  # type: ignore[arg-type]
    with pytest.raises(TimeoutError, match="acknowledged 0 of 2"):
        await relay.relay_once()
    assert silent.published == 2
    assert relay.acks.pending() == 0  # the round's wait given up
    assert await unsent_rows(committed_sessions) == 2


class _HeldPublisher(_Unacknowledged):
    """A NATS connection whose publishes wait for `release`: a relay caught mid-claim."""

    def __init__(self, nc: Any) -> None:
        super().__init__(nc)
        self.waiting = asyncio.Event()
        self.release = asyncio.Event()

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        self.waiting.set()
        await self.release.wait()
        await self.nc.publish(*args, **kwargs)


async def test_two_relays_publish_the_outbox_once_and_in_its_order(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    stream: str,
) -> None:
    """Two replicas' relays: while one publishes its claim, the other publishes nothing (with
    SKIP LOCKED alone it claimed the next rows and put them on the stream first)."""
    emitted = []
    for _ in range(6):  # six transactions: six rows, as six requests would write them
        emitted += await emit(committed_sessions, "tworelays", 1)
    held = _HeldPublisher(bus.nc)
    first = OutboxRelay(engine, held, bus.naming, batch_size=3)  # type: ignore[arg-type]
    second = OutboxRelay(engine, bus.nc, bus.naming, batch_size=3)
    claim = asyncio.create_task(first.relay_once())
    try:
        await asyncio.wait_for(held.waiting.wait(), timeout=10)
        published_meanwhile = await second.relay_once()
    finally:
        held.release.set()  # the held claim's transaction ends either way
    assert await claim == 3
    assert published_meanwhile == 0
    assert await second.relay_once() == 3
    assert await second.relay_once() == 0
    subject = bus.naming.subject(f"{SERVICE}.tworelays.happened")
    info = await bus.js.stream_info(stream)
    on_stream = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await bus.js.get_msg(stream, seq)
        if msg.subject == subject:
            on_stream.append(json.loads(msg.data or b"{}")["id"])
    assert on_stream == emitted


class _Woken:
    def __init__(self) -> None:
        self.times = 0

    def wake(self) -> None:
        self.times += 1


async def test_only_a_committed_transaction_with_events_wakes_the_relays(
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    woken = _Woken()
    watch_outbox(woken)

    async def rolled_back() -> None:
        async with unit_of_work(committed_sessions) as s:
            UnitOfWork.of(s).emit(
                source="test",
                type=f"{SERVICE}.wake.happened",
                subject="0",
                data={},
                tenant="401005",
            )
            await UnitOfWork.of(s).flush()  # written, then rolled back
            raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        await rolled_back()
    assert woken.times == 0
    async with unit_of_work(committed_sessions) as s:
        await s.execute(text("SELECT 1"))  # a transaction without events
    assert woken.times == 0
    await emit(committed_sessions, "wake", 2)
    assert woken.times == 1  # after its commit, once however many events it wrote


def test_a_relay_watched_twice_wakes_once_and_a_dropped_one_is_not_kept() -> None:
    from mch_common.events.outbox import _RELAYS, outbox_committed

    kept, dropped = _Woken(), _Woken()
    watch_outbox(kept)
    watch_outbox(kept)
    watch_outbox(dropped)
    before = len(_RELAYS)
    del dropped
    gc.collect()
    outbox_committed()
    assert kept.times == 1
    assert len(_RELAYS) <= before - 1  # (and any other relay dropped by earlier tests)
    assert all(ref() is not None for ref in _RELAYS)


async def test_a_relay_publishes_a_commit_at_once_not_at_its_next_look(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    stream: str,
) -> None:
    published = asyncio.Event()

    class Relay(OutboxRelay):
        async def relay_once(self) -> int:
            count = await super().relay_once()
            if count:
                published.set()
            return count

    relay = Relay(engine, bus.nc, bus.naming, idle_interval=60)
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.5)  # its first look is over: the next is a minute away
        await emit(committed_sessions, "atonce", 3)
        await asyncio.wait_for(published.wait(), timeout=10)
    finally:
        relay.stop()
        await running
    assert relay.published == 3


async def test_redelivered_event_is_applied_once(
    committed_sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    stream: str,
    applied_table: None,
) -> None:
    event = CloudEvent(
        source="test", type=f"{SERVICE}.redeliver.happened", data={"note": "x"}, tenant="401005"
    )
    subject = bus.naming.subject(event.type)
    # Two publishes without a dedup id: what a lost ack or a second relay would deliver.
    await bus.js.publish(subject, event.to_json_bytes())
    await bus.js.publish(subject, event.to_json_bytes())
    consumer = make_consumer(bus, committed_sessions, "redeliver", record_applied)
    handled = 0
    for _ in range(10):
        handled += await consumer.consume_once(timeout=0.3)
        if handled >= 2:
            break
    assert handled >= 2
    assert (await applied_ids(committed_sessions)).count(event.id) == 1
    async with committed_sessions() as s:
        inbox = (
            (await s.execute(select(InboxEvent.event_id).where(InboxEvent.consumer == "redeliver")))
            .scalars()
            .all()
        )
    assert inbox == [event.id]
    # Its share on /metrics: the one application, not the two deliveries.
    assert REGISTRY.get_sample_value("mch_events_applied_total", {"consumer": "redeliver"}) == 1


async def test_failing_handler_is_retried_then_dead_lettered(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    stream: str,
    applied_table: None,
) -> None:
    attempts: list[str] = []

    async def broken(session: AsyncSession, event: CloudEvent) -> None:
        await record_applied(session, event)  # rolled back with the savepoint
        attempts.append(event.id)
        if event.data["note"] == "poison":
            raise ValueError("cannot apply")

    await emit(committed_sessions, "poison", 1, note="poison")
    await emit(committed_sessions, "poison", 1, note="fine")
    await OutboxRelay(engine, bus.nc, bus.naming).relay_once()
    await bus.ensure_dead_letter_stream()
    consumer = make_consumer(
        bus, committed_sessions, "poison", broken, max_attempts=3, backoff=(0.05,)
    )
    for _ in range(30):
        await consumer.consume_once(timeout=0.2)
        if consumer.dead_lettered:
            break
    assert consumer.dead_lettered == 1
    poison_runs = [a for a in attempts if attempts.count(a) > 1]
    # Three deliveries (then dead-lettered); each ran the handler in the batch and, after the
    # batch rolled back, once more in its own savepoint.
    assert len(poison_runs) == 6
    async with committed_sessions() as s:
        notes = (await s.execute(text("SELECT note FROM applied"))).scalars().all()
    assert "poison" not in notes
    assert "fine" in notes  # the poison message left nothing behind; the good one was applied
    dead = await bus.js.get_last_msg(
        bus.naming.stream("deadletter"), bus.naming.dead_letter_subject("poison")
    )
    assert dead.data is not None
    assert json.loads(dead.data)["data"]["note"] == "poison"
    assert dead.headers is not None
    assert dead.headers["X-Dead-Letter-Reason"] == "ValueError"
    assert dead.headers["X-Dead-Letter-Attempts"] == "3"


async def test_event_with_a_my_number_is_refused(
    db_session: AsyncSession,
) -> None:
    with pytest.raises(MyNumberInEventError):
        UnitOfWork(db_session).emit(
            source="test",
            type=f"{SERVICE}.leak.happened",
            data={"note": "number 123456789018"},
            tenant="401005",
        )
    count = (await db_session.execute(select(func.count()).select_from(OutboxEvent))).scalar_one()
    assert count == 0


async def test_provisioning_is_safe_to_repeat(bus: EventBus) -> None:
    first = await bus.ensure_stream("again")
    second = await bus.ensure_stream("again")
    assert first == second
    await bus.ensure_durable(stream_service="again", durable="d", event_types=["again.x.y"])
    await bus.ensure_durable(stream_service="again", durable="d", event_types=["again.x.y"])
    info = await bus.js.consumer_info(first, bus.naming.durable("d"))
    assert info.config.filter_subject == bus.naming.subject("again.x.y")


def test_covering_filter() -> None:
    from mch_common.events.bus import covering_filter

    assert covering_filter(["atena.person.born"]) == "atena.person.born"
    assert covering_filter(["atena.person.born", "atena.person.died"]) == "atena.person.*"
    assert covering_filter(["atena.person.born", "atena.household.x"]) == "atena.>"


async def test_forget_service_drops_its_stream_and_its_durables(bus: EventBus) -> None:
    await bus.ensure_stream("forgetme")
    await bus.ensure_stream("other")
    await bus.ensure_durable(
        stream_service="other", durable="forgetme-other", event_types=["other.a.b"]
    )
    await bus.ensure_durable(
        stream_service="other", durable="keeper-other", event_types=["other.a.b"]
    )
    deleted = await bus.forget_service("forgetme")
    assert f"stream {bus.naming.stream('forgetme')}" in deleted
    remaining = [c.name for c in await bus.js.consumers_info(bus.naming.stream("other"))]
    assert remaining == [bus.naming.durable("keeper-other")]


async def test_delete_namespace_deletes_its_streams_only(
    nats_url: str, event_namespace: str
) -> None:
    a, b = f"{event_namespace}nsa", f"{event_namespace}nsb"
    mine = await EventBus.connect(nats_url, namespace=a, name="test")
    other = await EventBus.connect(nats_url, namespace=b, name="test")
    bare = await EventBus.connect(nats_url, name="test")
    try:
        await mine.ensure_stream("atena")
        await mine.ensure_stream("boshi")
        await other.ensure_stream("atena")

        assert sorted(await mine.delete_namespace()) == [f"{a}_ATENA".upper(), f"{a}_BOSHI".upper()]

        names = {info.config.name for info in await mine.streams()}
        assert f"{b}_ATENA".upper() in names
        assert not any(name and name.startswith(f"{a}_".upper()) for name in names)
        with pytest.raises(ValueError, match="every stream"):
            await bare.delete_namespace()
    finally:
        await other.delete_namespace()
        for bus in (mine, other, bare):
            await bus.close()


async def test_a_dead_consumers_batch_is_redelivered_after_the_short_ack_wait(
    committed_sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    stream: str,
    applied_table: None,
) -> None:
    ids = await _publish(bus, "deadbatch", 3)
    dead = make_consumer(bus, committed_sessions, "deadbatch", record_applied)
    await dead.start()
    assert dead._sub is not None
    fetched = await dead._sub.fetch(10, timeout=2.0)  # fetched, then the process "dies"
    assert len(fetched) == 3
    await dead._sub.unsubscribe()
    successor = make_consumer(bus, committed_sessions, "deadbatch", record_applied)
    # The default ack_wait (5 s) brings the batch back; the old 30 s would not within 15 s.
    for _ in range(50):
        await successor.consume_once(timeout=0.3)
        if successor.applied >= 3:
            break
    assert sorted(await applied_ids(committed_sessions)) == sorted(ids)


async def test_a_slow_batch_is_kept_alive_and_not_redelivered(
    committed_sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    stream: str,
    applied_table: None,
) -> None:
    async def slow(session: AsyncSession, event: CloudEvent) -> None:
        await asyncio.sleep(2.5)  # longer than ack_wait: only in-progress signals keep it
        await record_applied(session, event)

    ids = await _publish(bus, "slowbatch", 1)
    consumer = make_consumer(bus, committed_sessions, "slowbatch", slow, ack_wait=1.0)
    replica = make_consumer(bus, committed_sessions, "slowbatch", slow, ack_wait=1.0)
    await replica.start()
    assert replica._sub is not None
    work = asyncio.create_task(consumer.consume_once(timeout=2.0))
    await asyncio.sleep(0.3)
    # A second replica asking while the first works: without the signals the message would be
    # redelivered to it after ack_wait.
    with pytest.raises(TimeoutError):
        await replica._sub.fetch(1, timeout=2.5)
    assert await work == 1
    await replica._sub.unsubscribe()
    info = await bus.js.consumer_info(stream, bus.naming.durable("slowbatch"))
    assert info.num_redelivered == 0
    assert await applied_ids(committed_sessions) == ids


async def test_two_replicas_of_a_consumer_apply_the_stream_in_its_order(
    committed_sessions: async_sessionmaker[AsyncSession],
    bus: EventBus,
    stream: str,
) -> None:
    """The first replica is slow with the first event; the second, asking meanwhile, must not
    apply the next one before it (side by side, it committed the later change first)."""
    first_in_handler, release = asyncio.Event(), asyncio.Event()
    done: list[str] = []

    async def slow_on_the_first(session: AsyncSession, event: CloudEvent) -> None:
        if not done and not first_in_handler.is_set():
            first_in_handler.set()
            await release.wait()
        done.append(event.id)

    ids = await _publish(bus, "turns", 1)
    one = make_consumer(bus, committed_sessions, "turns", slow_on_the_first, batch_size=1)
    two = make_consumer(bus, committed_sessions, "turns", slow_on_the_first, batch_size=1)
    await two.start()
    applying = asyncio.create_task(one.consume_once(timeout=2.0))
    try:
        await asyncio.wait_for(first_in_handler.wait(), timeout=10)
        ids += await _publish(bus, "turns", 1)
        waiting = asyncio.create_task(two.consume_once(timeout=2.0))
        await asyncio.sleep(1.0)  # time enough, side by side, to fetch and apply the second
        assert done == []
    finally:
        release.set()
    assert await applying == 1
    assert await waiting == 1
    assert done == ids
    for consumer in (one, two):
        await consumer.close()


async def _publish(bus: EventBus, name: str, n: int) -> list[str]:
    events = [
        CloudEvent(source="test", type=f"{SERVICE}.{name}.happened", data={}, tenant="401005")
        for _ in range(n)
    ]
    for event in events:
        await bus.js.publish(bus.naming.subject(event.type), event.to_json_bytes())
    return [event.id for event in events]


async def test_streams_get_the_configured_number_of_replicas(
    nats_url: str, event_namespace: str
) -> None:
    single = await EventBus.connect(nats_url, namespace=f"{event_namespace}r1", name="test")
    clustered = await EventBus.connect(
        nats_url, namespace=f"{event_namespace}r3", name="test", stream_replicas=3
    )
    try:
        stream = await single.ensure_stream("atena")
        assert (await single.js.stream_info(stream)).config.num_replicas == 1
        await AuditAnchors(single, "atena").ensure_stream()
        anchors = single.naming.stream(ANCHOR_STREAM)
        assert (await single.js.stream_info(anchors)).config.num_replicas == 1
        # The test server is a single node: asking it for three copies reaches JetStream,
        # which refuses (deploy/k8s runs three nodes with STREAM_REPLICAS=3).
        with pytest.raises(ServerError, match="replicas > 1 not supported"):
            await clustered.ensure_stream("atena")
        with pytest.raises(ServerError, match="replicas > 1 not supported"):
            await AuditAnchors(clustered, "atena").ensure_stream()
    finally:
        for bus in (single, clustered):
            await bus.delete_namespace()
            await bus.close()


async def test_more_streams_than_one_page_are_all_found_and_deleted(
    nats_url: str, event_namespace: str
) -> None:
    """JetStream lists 256 streams a page; a namespace past the first page was missed (a test
    scanning its streams found none when the server held many, and its cleanup left them)."""
    bus = await EventBus.connect(nats_url, namespace=f"{event_namespace}many", name="test")
    try:
        names = [bus.naming.stream(f"s{i}") for i in range(260)]
        for name in names:
            await bus.js.add_stream(
                StreamConfig(name=name, subjects=[f"{name}.x"], storage=StorageType.MEMORY)
            )
        assert set(names) <= {info.config.name for info in await bus.streams()}
        assert sorted(await bus.delete_namespace()) == sorted(names)
    finally:
        await bus.close(drain=False)


async def test_a_batch_the_database_failed_comes_back_ahead_of_later_events(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    stream: str,
    applied_table: None,
) -> None:
    """The database fails while the first event is applied (a stale pooled connection right
    after a PostgreSQL restart) and is fine at once after: the consumer's next fetch must get
    that event again before the one after it, or a person's later change lands first."""
    handled: list[str] = []
    failed: list[str] = []

    async def flaky(session: AsyncSession, event: CloudEvent) -> None:
        if len(failed) < 2:  # the batch, then its replay message by message
            failed.append(event.id)
            raise ConnectionResetError("the connection went away")  # infrastructure, not data
        await record_applied(session, event)
        handled.append(event.id)

    first, second = await emit(committed_sessions, "ordered", 2)
    await OutboxRelay(engine, bus.nc, bus.naming).relay_once()
    consumer = make_consumer(bus, committed_sessions, "ordered", flaky, batch_size=1)
    for _ in range(20):
        try:
            await consumer.consume_once(timeout=0.2)
        except ConnectionResetError:
            await asyncio.sleep(0.1)  # the run loop's pause, shorter than any delay would be
        if len(handled) == 2:
            break
    assert failed == [first, first]
    assert handled == [first, second]


async def test_a_killed_consumers_batch_is_applied_before_what_followed_it(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    stream: str,
    applied_table: None,
) -> None:
    """A consumer dies holding a fetched batch (never acked); the process replacing it starts
    while later events wait: the dead batch is applied first, once JetStream offers it again."""
    handled: list[str] = []

    async def keep(session: AsyncSession, event: CloudEvent) -> None:
        await record_applied(session, event)
        handled.append(event.id)

    relay = OutboxRelay(engine, bus.nc, bus.naming)
    (first,) = await emit(committed_sessions, "killed", 1)
    await relay.relay_once()
    dead = make_consumer(bus, committed_sessions, "killed", keep, ack_wait=1.0)
    await dead.start()
    assert dead._sub is not None
    (held,) = await dead._sub.fetch(1, timeout=2)  # fetched, then the process is killed
    assert held.metadata.sequence.stream is not None
    (second,) = await emit(committed_sessions, "killed", 1)
    await relay.relay_once()
    successor = make_consumer(bus, committed_sessions, "killed", keep, ack_wait=1.0)
    await successor.start()
    for _ in range(40):
        await successor.consume_once(timeout=0.2)
        if len(handled) == 2:
            break
    assert handled == [first, second]


async def test_published_events_past_their_keep_are_deleted_and_unpublished_ones_never(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    stream: str,
) -> None:
    await emit(committed_sessions, "purged", 5)
    assert await OutboxRelay(engine, bus.nc, bus.naming).relay_once() == 5
    waiting = await emit(committed_sessions, "waiting", 2)
    async with engine.begin() as conn:
        # Three published three days ago; the two waiting were written as long ago.
        await conn.execute(
            text(
                "UPDATE outbox SET published_at = now() - interval '3 days' WHERE position IN"
                " (SELECT position FROM outbox WHERE published_at IS NOT NULL"
                " ORDER BY position LIMIT 3)"
            )
        )
        await conn.execute(text("UPDATE outbox SET created_at = now() - interval '3 days'"))
    # The service's runtime role deletes them, two a transaction.
    assert await purge_published(engine, keep=timedelta(days=1), batch=2) == 3
    assert await purge_published(engine, keep=timedelta(days=1), batch=2) == 0
    async with committed_sessions() as s:
        left = (await s.execute(select(OutboxEvent.published_at.is_(None)))).scalars().all()
    assert sorted(left) == [False, False, True, True]
    # The two waiting are still published, in order.
    assert await OutboxRelay(engine, bus.nc, bus.naming).relay_once() == 2
    published = await bus.js.get_last_msg(stream, bus.naming.subject(f"{SERVICE}.waiting.happened"))
    assert json.loads(published.data or b"")["id"] == waiting[1]


async def test_the_outbox_purge_runs_as_a_periodic_job(
    committed_sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    await emit(committed_sessions, "job", 2)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE outbox SET published_at = now() - interval '2 hours'"))
    job = published_events_cleanup(engine, keep=timedelta(hours=1), every=60)
    task = asyncio.create_task(job.run_forever())
    try:
        for _ in range(500):  # its first run is at once
            if job.runs:
                break
            await asyncio.sleep(0.01)
    finally:
        await cancelled(task)
    assert job.runs == 1
    async with committed_sessions() as s:
        assert (await s.execute(select(func.count()).select_from(OutboxEvent))).scalar_one() == 0
