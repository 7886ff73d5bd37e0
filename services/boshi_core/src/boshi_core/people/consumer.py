"""Keeps the people read model current from atena's events (stream "atena")."""

import asyncio
import logging

from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atena import events as atena_events
from boshi_core.births.service import link_born
from boshi_core.people import repository
from mch_common.events import CloudEvent, EventBus, EventConsumer, Handler

log = logging.getLogger("boshi_core.people")

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


class AtenaConsumer(EventConsumer):
    """The durable consumer of atena's events. It tolerates atena's stream not existing yet
    (atena not deployed or not started): boshi_core starts anyway and binds when it appears."""

    _warned = False

    async def start(self) -> None:
        try:
            await super().start()
        except NotFoundError:
            if not self._warned:  # once: it retries every second until atena's stream exists
                log.warning("stream %s is not there yet; will bind when it is", atena_events.STREAM)
                self._warned = True

    async def consume_once(self, *, timeout: float = 1.0) -> int:  # noqa: ASYNC109 - base API
        if self._sub is None:
            await self.start()
            if self._sub is None:
                await asyncio.sleep(timeout)
                return 0
        return await super().consume_once(timeout=timeout)


def atena_consumer(
    bus: EventBus, sessions: async_sessionmaker[AsyncSession], *, batch_size: int = 200
) -> AtenaConsumer:
    handlers: dict[str, Handler] = {
        event.type: apply_person_event for event in atena_events.CATALOGUE
    }
    return AtenaConsumer(
        bus,
        sessions,
        name=DURABLE,
        stream_service=atena_events.STREAM,
        handlers=handlers,
        batch_size=batch_size,
    )
