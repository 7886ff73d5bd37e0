"""NATS connection, naming and idempotent provisioning of streams and durable consumers."""

import logging
from dataclasses import dataclass
from datetime import timedelta

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from nats.js.errors import NotFoundError

from mch_common.streams import SERVICE_STREAMS

log = logging.getLogger("mch.events")

DEAD_LETTER = "deadletter"
# JetStream drops a re-publish with the same Nats-Msg-Id inside this window: it must exceed the
# longest time a relay can take to notice it crashed after publishing and before marking sent.
DUPLICATE_WINDOW = timedelta(minutes=10)


# Each service's stream is mch_common.streams'; durable consumers are named
# `<consuming service>-<what they read>`.


def inbox_prefix(user: str) -> str:
    """The reply subjects of a NATS user's requests and push consumers: its own, so that no
    other user may subscribe to them (they carry the events it fetched). NATS's default
    without a user."""
    return f"_INBOX_{user}" if user else "_INBOX"


@dataclass(frozen=True)
class EventNaming:
    """Maps event types to subjects and names to streams; a namespace isolates test runs."""

    namespace: str = ""

    def subject(self, event_type: str) -> str:
        return f"{self.namespace}.{event_type}" if self.namespace else event_type

    def event_type(self, subject: str) -> str:
        prefix = f"{self.namespace}."
        return subject.removeprefix(prefix) if self.namespace else subject

    def stream(self, service: str) -> str:
        name = f"{self.namespace}_{service}" if self.namespace else service
        return name.upper().replace(".", "_").replace("-", "_")

    def durable(self, name: str) -> str:
        return f"{self.namespace}_{name}" if self.namespace else name

    def dead_letter_subject(self, consumer: str) -> str:
        return self.subject(f"{DEAD_LETTER}.{consumer}")


class EventBus:
    """One NATS connection per service process, made in lifespan."""

    def __init__(self, nc: NATS, naming: EventNaming, *, stream_replicas: int = 1) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.naming = naming
        # Copies of every stream this bus creates: 3 on a three-node JetStream cluster, so a
        # stream survives a node's loss; 1 on a single server (which refuses more).
        self.stream_replicas = stream_replicas

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        namespace: str = "",
        name: str = "mch",
        user: str = "",
        password: str = "",
        stream_replicas: int = 1,
    ) -> "EventBus":
        """`user`/`password`: the service's NATS user (see `mch_common.nats_access`); empty
        when the server has no authorization. `stream_replicas`: see `ServiceSettings`."""

        async def on_error(exc: Exception) -> None:
            log.warning("nats error: %s", type(exc).__name__)

        nc = await nats.connect(
            url,
            name=name,
            max_reconnect_attempts=-1,  # keep trying: a NATS restart must not kill the service
            reconnect_time_wait=0.5,
            error_cb=on_error,
            drain_timeout=5,
            user=user or None,
            password=password or None,
            inbox_prefix=inbox_prefix(user),
        )
        return cls(nc, EventNaming(namespace), stream_replicas=stream_replicas)

    async def close(self, *, drain: bool = True) -> None:
        """Drain (finish in-flight work) by default; tests close at once."""
        if self.nc.is_closed:
            return
        if drain:
            await self.nc.drain()
        else:
            await self.nc.close()

    async def ensure_stream(
        self, service: str, *, max_age: timedelta | None = None, create_only: bool = False
    ) -> str:
        """Create or update `<SERVICE>` capturing `<service>.>`; safe to run on every start.
        `create_only` (for consumers of another service's stream) never changes an existing
        stream's limits, which its owner sets."""
        name = self.naming.stream(service)
        config = StreamConfig(
            name=name,
            subjects=[self.naming.subject(f"{service}.>")],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW.total_seconds(),
            max_age=max_age.total_seconds() if max_age else None,
            num_replicas=self.stream_replicas,
        )
        try:
            await self.js.stream_info(name)
        except NotFoundError:
            await self.js.add_stream(config)
        else:
            if not create_only:
                await self.js.update_stream(config)
        return name

    async def streams(self) -> list[StreamInfo]:
        """Every stream on the server. JetStream lists them a page (256) at a time: a server
        holding more answers the first page only, and a caller looking for its own streams
        would miss them by chance."""
        found: list[StreamInfo] = []
        while True:
            page = await self.js.streams_info_iterator(offset=len(found))
            batch = list(page)
            found.extend(batch)
            total: int = getattr(page, "total", len(found))  # a StreamsListIterator's
            if not batch or len(found) >= total:
                return found

    async def delete_namespace(self) -> list[str]:
        """Delete every stream of this bus's namespace, whoever made it: the cleanup of a test
        session or a benchmark run. Returns the names deleted."""
        if not self.naming.namespace:
            raise ValueError("a bus without a namespace would delete every stream")
        prefix = self.naming.stream("")
        deleted = []
        for info in await self.streams():
            if info.config.name and info.config.name.startswith(prefix):
                await self.js.delete_stream(info.config.name)
                deleted.append(info.config.name)
        return deleted

    async def forget_service(self, service: str) -> list[str]:
        """Delete a service's stream and its durable consumers everywhere: for a dev stack
        whose database was just created, so old events and positions cannot outlive the data
        they described. Returns what was deleted."""
        deleted: list[str] = []
        own = self.naming.stream(SERVICE_STREAMS.get(service, service))
        prefix = self.naming.durable(f"{service}-")
        for info in await self.streams():
            name = info.config.name
            if not name:
                continue
            if name == own:
                await self.js.delete_stream(name)
                deleted.append(f"stream {name}")
                continue
            for consumer in await self.js.consumers_info(name):
                if consumer.name.startswith(prefix):
                    await self.js.delete_consumer(name, consumer.name)
                    deleted.append(f"consumer {name}/{consumer.name}")
        return deleted

    async def ensure_dead_letter_stream(self) -> str:
        return await self.ensure_stream(DEAD_LETTER)

    async def ensure_durable(
        self,
        *,
        stream_service: str,
        durable: str,
        event_types: list[str],
        ack_wait: float = 5.0,
        max_ack_pending: int = 1000,
    ) -> tuple[str, str]:
        """Create or update a durable pull consumer; returns (stream, durable name)."""
        stream = self.naming.stream(stream_service)
        name = self.naming.durable(durable)
        config = ConsumerConfig(
            durable_name=name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_ack_pending=max_ack_pending,
            # Redelivery is bounded by the consumer helper, which dead-letters; this is a backstop.
            max_deliver=-1,
            filter_subject=self.naming.subject(covering_filter(event_types)),
        )
        await self.js.add_consumer(stream, config)
        return stream, name


def covering_filter(event_types: list[str]) -> str:
    """One subject filter covering all the types (NATS before 2.10 takes only one filter):
    the common leading tokens, then `*` if only the last token differs, else `>`.
    A consumer ignores (but records in its inbox) covered types it has no handler for."""
    if len(set(event_types)) == 1:
        return event_types[0]
    split = [t.split(".") for t in event_types]
    common: list[str] = []
    for tokens in zip(*split, strict=False):
        if len(set(tokens)) > 1:
            break
        common.append(tokens[0])
    same_depth = len({len(t) for t in split}) == 1
    wildcard = "*" if same_depth and len(common) == len(split[0]) - 1 else ">"
    return ".".join([*common, wildcard])
