"""A service's event catalogue: the types it emits, each with its payload model.

Every service has one `events.py` holding `EventType`s and a `CATALOGUE` of them. Producers
emit through an `EventType` (a payload model, not a free dict); consumers subscribe from the
producer's catalogue; a test checks each catalogue against docs/asyncapi.yaml.
"""

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from mch_common.events.batch import BatchRow, emit_events
from mch_common.events.envelope import event_source

if TYPE_CHECKING:
    from mch_common.work import UnitOfWork


class EventPayload(BaseModel):
    """Base of every payload model: ids and minimal facts, never a My Number."""

    model_config = ConfigDict(frozen=True, extra="forbid")


P = TypeVar("P", bound=EventPayload)


@dataclass(frozen=True)
class EventType(Generic[P]):
    """One event type (also its NATS subject: `<stream>.<aggregate>.<verb>`), its payload, and
    the service (settings' `service_name`) that emits it, which gives the CloudEvents source."""

    service: str
    type: str
    payload: builtins.type[P]  # (`type` is the field above)

    def emit(self, work: "UnitOfWork", *, tenant: str, subject: str, data: P) -> str:
        """Queue one event in the unit of work's transaction; its id."""
        return work.emit(
            source=event_source(self.service, tenant),
            type=self.type,
            subject=subject,
            tenant=tenant,
            data=data,
        )

    async def emit_many(
        self, work: "UnitOfWork", *, tenant: str, items: Iterable[tuple[str, P]]
    ) -> BatchRow | None:
        """Many events of this type as one batch row (see mch_common.events.batch), written
        now, after what the unit of work queued before, so the outbox keeps their order."""
        await work.flush()
        return await emit_events(
            work.session,
            source=event_source(self.service, tenant),
            type=self.type,
            tenant=tenant,
            items=items,
        )


def types_of(catalogue: Iterable[EventType[Any]]) -> list[str]:
    """The event types of a catalogue, for a consumer's subscription."""
    return [event.type for event in catalogue]
