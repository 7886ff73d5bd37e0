"""Keeps the child register current from atena's events (stream "atena"), idempotently: the
consumer's inbox drops a redelivery, and a snapshot older than the one held is ignored. A
birth, move, death or name change of a child under the age limit is also recorded for the
register's files out (once per event id)."""

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atena import events as atena_events
from immunization_bridge.children import repository
from immunization_bridge.register_files import repository as register_files
from immunization_bridge.register_files.service import change_values
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
        # Under the age limit on the day of the change: the register must learn of it.
        change = change_values(
            event_id=event.id,
            verb=event.type.rsplit(".", 1)[-1],
            effective=effective,
            child=values,
            data=event.data,
        )
        if change is not None:
            await register_files.record_change(session, change)
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
