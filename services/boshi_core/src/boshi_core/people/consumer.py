"""Keeps the people read model current from atena's events (stream "atena"; the library
creates it if atena has not started yet)."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atena import events as atena_events
from boshi_core.births.service import link_born
from boshi_core.moving_in.service import queue_on_move_in
from boshi_core.people import repository
from mch_common.events import CloudEvent, EventBus, EventConsumer

DURABLE = "boshi_core-atena"


async def apply_person_event(session: AsyncSession, event: CloudEvent) -> None:
    snapshot = event.data.get("person")
    if not isinstance(snapshot, dict) or "person_no" not in snapshot or "version" not in snapshot:
        raise ValueError(f"{event.type} event {event.id} carries no person snapshot")
    await repository.upsert_snapshot(session, snapshot, event.type)
    if event.type == atena_events.PERSON_BORN.type:
        born = dict(snapshot)
        born.setdefault("mother_person_no", event.data.get("mother_person_no"))
        await link_born(session, born, event.tenant)
    elif event.type == atena_events.PERSON_EVENTS["moved_in"].type:
        await queue_on_move_in(session, snapshot=snapshot, event_data=event.data)


def atena_consumer(
    bus: EventBus, sessions: async_sessionmaker[AsyncSession], *, batch_size: int = 200
) -> EventConsumer:
    return EventConsumer.for_catalogue(
        bus,
        sessions,
        name=DURABLE,
        stream_service=atena_events.STREAM,
        types=atena_events.CATALOGUE,
        handler=apply_person_event,
        batch_size=batch_size,
    )
