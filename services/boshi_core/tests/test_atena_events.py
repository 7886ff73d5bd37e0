"""The people read model against real JetStream: catch-up after downtime, restart mid-burst."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atena.events import STREAM as ATENA_STREAM
from boshi_core.config import Settings
from boshi_core.main import create_app
from boshi_core.people.consumer import DURABLE, atena_consumer
from boshi_core.people.models import Person
from boshi_core.testsupport import KOKURA_NORTH, YAHATA_WEST, snapshot
from mch_common.events import CloudEvent, EventBus
from mch_common.events.tables import InboxEvent
from mch_testing.app import running_app


def person_event(verb: str, snap: dict[str, Any], **extra: Any) -> CloudEvent:
    return CloudEvent(
        source="urn:mch:atena",
        type=f"atena.person.{verb}",
        subject=snap["person_no"],
        tenant="401005",
        data={
            "person_no": snap["person_no"],
            "effective_date": "2026-04-01",
            "before": {},
            "after": {},
            "person": snap,
            **extra,
        },
    )


async def publish(bus: EventBus, event: CloudEvent, *, msg_id: str | None = None) -> None:
    await bus.js.publish(
        bus.naming.subject(event.type),
        event.to_json_bytes(),
        headers={"Nats-Msg-Id": msg_id or event.id},
    )


async def wait_for(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.1)


async def drained(bus: EventBus) -> bool:
    info = await bus.js.consumer_info(bus.naming.stream(ATENA_STREAM), bus.naming.durable(DURABLE))
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def test_events_queued_while_boshi_is_stopped_are_applied_on_start(
    bus: EventBus, settings: Settings, committed_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await bus.ensure_stream(ATENA_STREAM)  # the test plays atena
    people = [f"40000000{i:02d}" for i in range(30)]
    for person_no in people:
        await publish(bus, person_event("registered", snapshot(person_no)))
    moved = snapshot(people[0], ward=YAHATA_WEST, version=3)
    await publish(bus, person_event("address_changed", moved))
    # An older snapshot arriving late never overwrites the newer one.
    await publish(bus, person_event("corrected", snapshot(people[0], version=2)))

    async def all_there() -> bool:
        async with committed_sessions() as session:
            count = (await session.execute(select(func.count()).select_from(Person))).scalar_one()
        return bool(count == len(people))

    async with running_app(create_app(settings)) as client:
        await wait_for(all_there)
        await wait_for(lambda: drained(bus))
        assert (await client.get("/healthz")).status_code == 200
    async with committed_sessions() as session:
        first = await session.get(Person, people[0])
        assert first is not None
        assert (first.version, first.ward_code) == (3, YAHATA_WEST)
        assert first.last_event_type == "atena.person.address_changed"
        second = await session.get(Person, people[1])
        assert second is not None
        assert second.ward_code == KOKURA_NORTH


async def test_restart_mid_burst_applies_everything_exactly_once(
    bus: EventBus, settings: Settings, committed_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await bus.ensure_stream(ATENA_STREAM)
    people = [f"50000{i:05d}" for i in range(150)]
    burst: list[CloudEvent] = []
    for person_no in people:
        burst.append(person_event("registered", snapshot(person_no)))
        burst.append(person_event("name_changed", snapshot(person_no, version=2, given_name="桜")))
    for event in burst:
        await publish(bus, event)

    # First run: three batches, then the process stops half-way through the burst.
    first = atena_consumer(bus, committed_sessions, batch_size=40)
    await first.start()
    for _ in range(3):
        await first.consume_once(timeout=2.0)
    first.stop()
    assert first.applied == 120
    # A redelivery of something already applied (as after a crash between commit and ack):
    # JetStream sees a new message, the inbox sees the same event id.
    await publish(bus, burst[0], msg_id="redelivered-" + burst[0].id)

    app = create_app(settings)
    async with running_app(app) as client:
        await wait_for(lambda: drained(bus))
        assert (await client.get("/healthz")).status_code == 200
        applied_after_restart = app.state.runtime.consumers[0].applied
    assert first.applied + applied_after_restart == len(burst)
    async with committed_sessions() as session:
        inbox = (
            await session.execute(
                select(func.count()).select_from(InboxEvent).where(InboxEvent.consumer == DURABLE)
            )
        ).scalar_one()
        renamed = (
            await session.execute(
                select(func.count())
                .select_from(Person)
                .where(Person.given_name == "桜", Person.version == 2)
            )
        ).scalar_one()
    assert inbox == len(burst)
    assert renamed == len(people)


async def test_boshi_starts_before_atena_has_a_stream(
    nats_url: str, event_namespace: str, committed_sessions: async_sessionmaker[AsyncSession]
) -> None:
    lonely = await EventBus.connect(nats_url, namespace=event_namespace + "solo", name="tests")
    try:
        consumer = atena_consumer(lonely, committed_sessions)
        await consumer.start()  # no stream yet: boshi_core still starts
        assert await consumer.consume_once(timeout=0.1) == 0
        await lonely.ensure_stream(ATENA_STREAM)
        await publish(lonely, person_event("registered", snapshot("6000000001")))
        await wait_for(lambda: _consumed(consumer))
    finally:
        for stream in (ATENA_STREAM, "deadletter"):
            await lonely.js.delete_stream(lonely.naming.stream(stream))
        await lonely.close()


async def _consumed(consumer: Any) -> bool:
    await consumer.consume_once(timeout=0.5)
    return bool(consumer.applied == 1)
