"""Keeps the child register current from atena's events (stream "atena"), idempotently: the
consumer's inbox drops a redelivery, and a snapshot older than the one held is ignored."""

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atena import events as atena_events
from immunization_bridge.children import repository
from mch_common.dates import age_reached
from mch_common.events import CloudEvent, EventBus, EventConsumer

DURABLE = "immunization_bridge-atena"


async def apply_person_event(session: AsyncSession, event: CloudEvent) -> None:
    snapshot = event.data.get("person")
    if not isinstance(snapshot, dict) or "person_no" not in snapshot or "version" not in snapshot:
        raise ValueError(f"{event.type} event {event.id} carries no person snapshot")
    values = repository.child_values(snapshot, event.type)
    effective = date.fromisoformat(str(event.data.get("effective_date") or values["birth_date"]))
    limit = age_reached(values["birth_date"], months=await repository.age_limit_months(session))
    if effective < limit:
        await repository.upsert_newer(session, values)
    else:
        await repository.update_newer(session, values)


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
