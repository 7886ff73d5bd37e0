"""The child register from atena's events: births and moves kept, an older snapshot and a
redelivery ignored, adults not registered; through real JetStream."""

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atena.events import STREAM as ATENA_STREAM
from immunization_bridge.children.consumer import apply_person_event, atena_consumer
from immunization_bridge.children.models import Child
from mch_common.events import CloudEvent, EventBus
from mch_common.person_numbers import person_no_from_serial

from .conftest import YAHATANISHI, person_event

CHILD = person_no_from_serial(100_000_101)
ADULT = person_no_from_serial(100_000_102)


async def child(session: AsyncSession, person_no: str) -> Child | None:
    return (
        await session.execute(select(Child).where(Child.person_no == person_no))
    ).scalar_one_or_none()


async def test_a_newer_snapshot_wins_and_an_older_one_is_ignored(
    db_session: AsyncSession,
) -> None:
    birth = date(2025, 5, 1)
    await apply_person_event(db_session, person_event(CHILD, birth_date=birth))
    moved = person_event(
        CHILD,
        birth_date=birth,
        verb="moved_out",
        version=3,
        residence_status="moved_out",
        effective_date=date(2026, 6, 1),
    )
    await apply_person_event(db_session, moved)
    stale = person_event(
        CHILD, birth_date=birth, verb="address_changed", version=2, ward_code=YAHATANISHI
    )
    await apply_person_event(db_session, stale)

    found = await child(db_session, CHILD)
    assert found is not None
    assert (found.version, found.residence_status, found.resident) == (3, "moved_out", False)
    assert found.last_event_type == "atena.person.moved_out"


async def test_a_person_past_the_schedules_age_limit_is_not_registered(
    db_session: AsyncSession,
) -> None:
    event = person_event(
        ADULT, birth_date=date(1990, 1, 1), verb="moved_in", effective_date=date(2026, 4, 1)
    )
    await apply_person_event(db_session, event)

    assert await child(db_session, ADULT) is None


async def test_atenas_events_through_jetstream_are_applied_once(
    bus: EventBus, committed_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await bus.ensure_stream(ATENA_STREAM)  # the test plays atena
    born = person_event(CHILD, birth_date=date(2026, 11, 1))
    died = person_event(
        CHILD, birth_date=date(2026, 11, 1), verb="died", version=2, residence_status="deceased"
    )
    await publish(bus, born)
    await publish(bus, died)
    # The birth again under another message id: JetStream takes it, the inbox drops it (were
    # it applied, its snapshot is older anyway; the inbox count shows it was not).
    await publish(bus, born, msg_id="redelivered-" + born.id)
    consumer = atena_consumer(bus, committed_sessions)
    try:
        while await consumer.consume_once(timeout=1.0):
            pass
    finally:
        await consumer.close()

    async with committed_sessions() as session:
        found = await child(session, CHILD)
    assert found is not None
    assert (found.version, found.residence_status) == (2, "deceased")
    assert consumer.applied == 2


async def publish(bus: EventBus, event: CloudEvent, *, msg_id: str | None = None) -> None:
    await bus.js.publish(
        bus.naming.subject(event.type),
        event.to_json_bytes(),
        headers={"Nats-Msg-Id": msg_id or event.id},
    )
