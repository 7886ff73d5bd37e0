"""The idempotent consumer: durable pull consumer, handler and inbox row in one transaction,
ack after commit, bounded redelivery with backoff, then the dead-letter subject.

A fetched batch is applied in one transaction with a savepoint per message, so a failing
handler rolls back only its own message and one commit covers the batch.

Replicas of a service share its durable consumers and take turns: a replica fetches and
applies a batch while it holds the durable's advisory lock in its database, and lets go after
the acks. Two replicas applying side by side would put one person's changes in either order
(the later batch committed first); taking turns applies the stream in its order, as one
replica would, and a replica that dies leaves the turns to the others.

Catching up after a fault: a consumer that is alive hands a batch it could not apply (its
database is down) back at once, and JetStream offers a message handed back ahead of every later
one: with a delay, a fetch made before it ran out took the later messages first (a person's
later change applied before the earlier one, right after a PostgreSQL restart). The run loop's
pause paces the retries. A consumer that died leaves its batch to JetStream, which redelivers it
after `ack_wait`, kept short (5 s) because a long batch is kept alive with in-progress signals
instead; the process that replaces it finds the batch still out when it starts and waits
`ack_wait` before its first fetch, so the batch comes back ahead of what followed it. (Another
replica that is running when one dies does not wait: the dead one's batch can then be applied
after later messages.)
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mch_common.db import unit_of_work
from mch_common.events.bus import EventBus
from mch_common.events.envelope import CloudEvent
from mch_common.events.tables import InboxEvent
from mch_common.logs import correlation_id

if TYPE_CHECKING:
    from mch_common.events.catalogue import EventType

log = logging.getLogger("mch.events.consumer")

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]

DEFAULT_BACKOFF = (0.5, 2.0, 10.0, 30.0)
DEFAULT_ACK_WAIT = 5.0
# Held from fetch to ack by the replica whose turn it is (see the module's docstring).
_TURN = text("SELECT pg_advisory_xact_lock(hashtextextended(:durable, 0))")
# Per process, counted at commit: with several replicas on one durable, each one's share.
APPLIED = Counter(
    "mch_events_applied_total", "Events a consumer applied (a redelivery not counted)", ["consumer"]
)


def is_infrastructure_error(exc: BaseException) -> bool:
    """The database (or the network to it) failed, not the handler: such an error must never
    count as a delivery attempt, or an outage would dead-letter good events."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class EventConsumer:
    def __init__(
        self,
        bus: EventBus,
        sessions: async_sessionmaker[AsyncSession],
        *,
        name: str,
        stream_service: str,
        handlers: dict[str, Handler],
        max_attempts: int = 5,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        batch_size: int = 200,
        ack_wait: float = DEFAULT_ACK_WAIT,
    ) -> None:
        self.bus = bus
        self.sessions = sessions
        self.name = name
        self.stream_service = stream_service
        self.handlers = handlers
        self.max_attempts = max_attempts
        self.backoff = tuple(backoff)
        self.batch_size = batch_size
        self.ack_wait = ack_wait
        self.applied = 0
        self.dead_lettered = 0
        self._stopping = asyncio.Event()
        # Set by start(): until then (monotonic time), a dead predecessor's batch may be out.
        self._predecessor_until: float | None = None
        self._sub: JetStreamContext.PullSubscription | None = None

    @classmethod
    def for_catalogue(
        cls,
        bus: EventBus,
        sessions: async_sessionmaker[AsyncSession],
        *,
        name: str,
        stream_service: str,
        types: Iterable["EventType[Any]"],
        handler: Handler,
        batch_size: int = 200,
    ) -> "EventConsumer":
        """A consumer applying `handler` to every type of a producer's catalogue (its
        `CATALOGUE`, or the part of it the consumer needs)."""
        return cls(
            bus,
            sessions,
            name=name,
            stream_service=stream_service,
            handlers={event.type: handler for event in types},
            batch_size=batch_size,
        )

    async def start(self) -> None:
        # The producer may not have started yet: its stream is created (never altered) here.
        await self.bus.ensure_stream(self.stream_service, create_only=True)
        stream, durable = await self.bus.ensure_durable(
            stream_service=self.stream_service,
            durable=self.name,
            event_types=list(self.handlers),
            ack_wait=self.ack_wait,
        )
        await self.bus.ensure_dead_letter_stream()
        self._sub = await self.bus.js.pull_subscribe_bind(durable=durable, stream=stream)
        if (await self._sub.consumer_info()).num_ack_pending:
            # A batch of the process this one replaces (killed mid-batch) is still out.
            # JetStream offers it again after ack_wait, ahead of later messages; fetching
            # before then would apply the messages after it first.
            self._predecessor_until = time.monotonic() + self.ack_wait

    async def run(self) -> None:
        if self._sub is None:
            await self.start()
        while not self._stopping.is_set():
            try:
                await self.consume_once(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep consuming after transient failures
                log.warning("consumer %s failed, retrying: %s", self.name, type(exc).__name__)
                await asyncio.sleep(0.5)

    def stop(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        """Stop fetching and drop the subscription; the durable keeps its position."""
        self.stop()
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def consume_once(self, *, timeout: float = 1.0) -> int:  # noqa: ASYNC109 - fetch wait
        """Fetch and apply one batch; returns how many messages were handled (any outcome)."""
        if self._sub is None:
            await self.start()
        if self._sub is None:
            raise RuntimeError(f"consumer {self.name} has no subscription")
        if self._predecessor_until is not None:
            if time.monotonic() < self._predecessor_until:
                await asyncio.sleep(min(timeout, self._predecessor_until - time.monotonic()))
                return 0
            self._predecessor_until = None
        async with self.sessions() as turn, turn.begin():
            await turn.execute(_TURN, {"durable": f"mch.consumer.{self.name}"})
            return await self._fetch_and_apply(self._sub, timeout)

    async def _fetch_and_apply(
        self,
        sub: JetStreamContext.PullSubscription,
        timeout: float,  # noqa: ASYNC109 - fetch wait
    ) -> int:
        try:
            msgs: list[Msg] = await sub.fetch(self.batch_size, timeout=timeout)
        except (NatsTimeoutError, TimeoutError):
            return 0
        if not msgs:
            return 0
        keep_alive = asyncio.create_task(self._keep_in_progress(msgs))
        try:
            await self._apply_batch(msgs)
        except BaseException:
            # Handler failures are settled per message inside; what escapes is the database,
            # the network or a stop: the whole batch goes back now, ahead of later messages,
            # instead of after ack_wait.
            await self._hand_back(msgs)
            raise
        finally:
            keep_alive.cancel()
        return len(msgs)

    async def _keep_in_progress(self, msgs: list[Msg]) -> None:
        """Tell JetStream a long batch is still being worked on, so that a short ack_wait
        redelivers the batches of a dead consumer quickly without redelivering a slow one."""
        try:
            while True:
                await asyncio.sleep(self.ack_wait / 3)
                for msg in msgs:
                    if not msg.is_acked:
                        await msg.in_progress()
        except Exception:  # noqa: BLE001 - NATS is away: JetStream's ack_wait takes over
            return

    @staticmethod
    async def _hand_back(msgs: list[Msg]) -> None:
        for msg in msgs:
            if msg.is_acked:
                continue
            try:
                await msg.nak()
            except Exception:  # noqa: BLE001 - NATS is away too: ack_wait redelivers
                return

    async def _apply_batch(self, msgs: list[Msg]) -> None:
        """Fast path: the whole batch in one transaction with one inbox insert. If any handler
        fails, the transaction is rolled back and the batch is replayed message by message with
        a savepoint each, so only the failing messages are retried."""
        before = self.applied
        try:
            async with unit_of_work(self.sessions) as session:
                events = [CloudEvent.from_json_bytes(msg.data) for msg in msgs]
                fresh = await self._record_in_inbox(session, events)
                for event in events:
                    if event.id in fresh:
                        fresh.discard(event.id)  # a duplicate inside the batch runs once
                        await self._handle(session, event)
        except Exception:  # noqa: BLE001 - isolate the failing message(s) below
            await self._apply_one_by_one(msgs)
            return
        APPLIED.labels(self.name).inc(self.applied - before)
        for msg in msgs:  # committed: only now is it safe to ack
            await msg.ack()

    async def _apply_one_by_one(self, msgs: list[Msg]) -> None:
        failures: dict[int, Exception] = {}
        before = self.applied
        async with unit_of_work(self.sessions) as session:
            # Imported here: mch_common.work imports this package (its envelope and outbox), so
            # a module importing mch_common.work first would otherwise find it half-made.
            from mch_common.work import UnitOfWork

            work = UnitOfWork.of(session)
            await session.connection()  # the database is down: fail the batch, not a message
            for index, msg in enumerate(msgs):
                try:
                    async with work.savepoint():
                        event = CloudEvent.from_json_bytes(msg.data)
                        if await self._record_in_inbox(session, [event]):
                            await self._handle(session, event)
                except Exception as exc:
                    if is_infrastructure_error(exc):
                        raise  # not the message's fault: no ack, redelivered after ack_wait
                    failures[index] = exc
        APPLIED.labels(self.name).inc(self.applied - before)
        for index, msg in enumerate(msgs):
            if index in failures:
                await self._retry_or_dead_letter(msg, failures[index])
            else:
                await msg.ack()

    async def _record_in_inbox(self, session: AsyncSession, events: list[CloudEvent]) -> set[str]:
        """Insert the event ids; returns those not seen before (the ones to apply)."""
        if not events:
            return set()
        rows = [{"consumer": self.name, "event_id": e.id, "event_type": e.type} for e in events]
        inserted = await session.execute(
            insert(InboxEvent).values(rows).on_conflict_do_nothing().returning(InboxEvent.event_id)
        )
        return set(inserted.scalars())

    async def _handle(self, session: AsyncSession, event: CloudEvent) -> None:
        handler = self.handlers.get(event.type)
        if handler is None:
            return
        token = correlation_id.set(event.correlationid)
        try:
            await handler(session, event)
        finally:
            correlation_id.reset(token)
        self.applied += 1

    async def _retry_or_dead_letter(self, msg: Msg, error: Exception) -> None:
        attempt = msg.metadata.num_delivered
        if attempt >= self.max_attempts:
            headers = dict(msg.headers or {})
            headers.pop("Nats-Msg-Id", None)
            headers["X-Dead-Letter-Consumer"] = self.name
            headers["X-Dead-Letter-Reason"] = type(error).__name__
            headers["X-Dead-Letter-Attempts"] = str(attempt)
            await self.bus.js.publish(
                self.bus.naming.dead_letter_subject(self.name), msg.data, headers=headers
            )
            await msg.term()
            self.dead_lettered += 1
            log.error(
                "consumer %s dead-lettered an event after %d attempts: %s",
                self.name,
                attempt,
                type(error).__name__,
            )
            return
        delay = self.backoff[min(attempt - 1, len(self.backoff) - 1)]
        log.warning(
            "consumer %s handler failed (attempt %d), retrying in %.1fs: %s",
            self.name,
            attempt,
            delay,
            type(error).__name__,
        )
        await msg.nak(delay=delay)
