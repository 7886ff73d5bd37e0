"""The outbox relay: publishes committed outbox rows to JetStream, at least once.

An idle relay publishes as soon as a transaction of its process that wrote events has
committed (`mch_common.events.outbox.written_in`), and otherwise looks once every
`idle_interval` (events another process wrote: a batch job's). Polling every 50 ms instead
cost each idle replica 1.7 ms of CPU per look (BEGIN, the lock, the claim, COMMIT), 3.5 % of
a core, with PostgreSQL's share besides. A relay that published looks again after
`busy_interval`, and at once after a full claim.

Every replica of a service runs a relay; one claim is published at a time, under a
transaction-level advisory lock, and the others skip their round while it is held. Two claims
published side by side (FOR UPDATE SKIP LOCKED alone) would reach the stream interleaved, a
person's later change before the earlier one. Each publish carries `Nats-Msg-Id` = event id:
if the relay dies after publishing and before marking the rows sent, the re-publish falls
inside JetStream's duplicate window and is dropped; consumers' inboxes are the second line.

A batch row (`mch_common.events.batch`) stands for many events of its subject; the relay
expands it into its events, with ids derived from the batch row (the same on every expansion,
so a re-publish is dropped as above). Rows are published in order; a claim stops after its
first batch row, so one round holds at most one batch.
"""

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.errors import APIError, NoStreamResponseError
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mch_common.db import on_driver
from mch_common.events.batch import BATCH_KEY, expand_batch
from mch_common.events.bus import EventNaming
from mch_common.events.outbox import watch_outbox
from mch_common.jobs import PeriodicJob

log = logging.getLogger("mch.events.relay")

# One round's lock and claim in one statement, on the driver (a round took five round trips
# through SQLAlchemy: 1.8 ms of the replica's CPU and 0.6 ms of PostgreSQL's, measured). One
# publishing relay per database: a relay that does not get the transaction-level lock claims
# nothing (the claim's condition is evaluated once, before any row is locked) and skips its
# round; the first row says whether it got it, with the claimed rows, or NULLs for none.
# A batch row's envelope is large (its list of what it stands for) and is not published: it
# is not sent to the relay, which would decode it on every claim until its turn comes.
_CLAIM = f"""
    WITH relay_lock AS MATERIALIZED (
        SELECT pg_try_advisory_xact_lock(hashtextextended('mch.outbox.relay', 0)) AS held
    ), claimed AS (
        SELECT position, event_id, subject, envelope, envelope ? '{BATCH_KEY}' AS is_batch
        FROM outbox
        WHERE published_at IS NULL AND (SELECT held FROM relay_lock)
        ORDER BY position
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    )
    SELECT relay_lock.held, position, event_id, subject, is_batch,
           CASE WHEN NOT is_batch THEN envelope::text END AS envelope,
           CASE WHEN NOT is_batch THEN envelope->>'correlationid' END AS correlation_id
    FROM relay_lock LEFT JOIN claimed ON true
    ORDER BY position
"""
# Per process: with several replicas, each one's share of the publishing.
PUBLISHED = Counter("mch_outbox_published_total", "Events this process's outbox relay published")
# The JSONB envelope comes decoded (the codec SQLAlchemy's dialect sets on each connection).
_BATCH_ROW = "SELECT envelope FROM outbox WHERE position = $1"
_MARK_SENT = "UPDATE outbox SET published_at = now() WHERE position = ANY($1::bigint[])"
_CLOUDEVENT = "application/cloudevents+json"
# After a failure (NATS or PostgreSQL away) the relay tries again after 0.1 s, doubling up to
# this: a relay still waiting out a longer backoff when the server came back kept the events
# written since in the outbox for that long (seen: 4 s after an 8 s PostgreSQL outage).
MAX_RETRY_DELAY = 1.0
# How long a round waits for JetStream's acks (nats-py's own default for a publish).
PUBLISH_TIMEOUT = 5.0
# A relay that found another replica's relay publishing looks again after this: that claim
# may have been made before this process's events committed.
TAKEN_RETRY_DELAY = 0.05

# (event id, subject, CloudEvent JSON text, correlation id)
_Event = tuple[Any, str, str, str | None]


class _Round:
    """The acks one round waits for."""

    __slots__ = ("acked", "done", "error", "expected")

    def __init__(self, expected: int) -> None:
        self.expected, self.acked = expected, 0
        self.error: Exception | None = None
        self.done = asyncio.Event()


class JetStreamAcks:
    """Every publish of a round carries the round's reply subject, and JetStream's acks come
    to one subscription, counted by round: nats-py's `publish_async` made a future, a token,
    a semaphore wait and a decoded `PubAck` for each event (26-32 µs of CPU an event against
    13-14 this way, measured). An ack is JetStream's answer, a JSON error, or NATS's "no
    responders" status (no stream takes the subject)."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self._prefix = ""
        self._rounds: dict[str, _Round] = {}
        self._count = 0

    async def publish_all(self, events: list[tuple[str, bytes, dict[str, str]]]) -> None:
        """Publish (subject, payload, headers) in order without waiting, then wait for every
        ack under one timer; the first refusal, or PUBLISH_TIMEOUT without every ack, fails
        the round."""
        if not events:
            return
        if not self._prefix:
            prefix = self.nc.new_inbox() + "."
            await self.nc.subscribe(prefix + "*", cb=self._acked)
            self._prefix = prefix  # once subscribed: a failed subscribe is tried again
        self._count += 1
        key = str(self._count)
        reply = self._prefix + key
        waiting = self._rounds[key] = _Round(len(events))
        try:
            for subject, payload, headers in events:
                await self.nc.publish(subject, payload, reply=reply, headers=headers)
            try:
                await asyncio.wait_for(waiting.done.wait(), PUBLISH_TIMEOUT)
            except TimeoutError:
                raise TimeoutError(
                    f"JetStream acknowledged {waiting.acked} of {waiting.expected} events"
                ) from None
        finally:
            del self._rounds[key]  # a late ack finds no round and is dropped
        if waiting.error is not None:
            raise waiting.error

    def pending(self) -> int:
        """Rounds waiting for their acks."""
        return len(self._rounds)

    async def _acked(self, msg: Msg) -> None:
        waiting = self._rounds.get(msg.subject[len(self._prefix) :])
        if waiting is None or waiting.done.is_set():
            return
        error = _refusal(msg)
        if error is not None:
            waiting.error = error
            waiting.done.set()
            return
        waiting.acked += 1
        if waiting.acked >= waiting.expected:
            waiting.done.set()


def _refusal(msg: Msg) -> Exception | None:
    """JetStream's refusal in an ack, else None (an ack names its stream and sequence)."""
    if msg.headers and msg.headers.get("Status") == "503":
        return NoStreamResponseError()
    if b'"error"' in msg.data:
        refused = json.loads(msg.data).get("error")
        if refused:
            try:
                APIError.from_error(refused)  # raises the error's class (BadRequestError, ...)
            except APIError as error:
                return error
    return None


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        nc: NATS,
        naming: EventNaming,
        *,
        batch_size: int = 1000,
        idle_interval: float = 1.0,
        busy_interval: float = 0.05,
    ) -> None:
        self.engine = engine
        self.acks = JetStreamAcks(nc)
        self.naming = naming
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.busy_interval = busy_interval
        self.published = 0
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self._taken = False  # the last round found another relay publishing
        watch_outbox(self)

    def wake(self) -> None:
        """Look for events now (or, mid-round, once more when the round is over)."""
        self._woken.set()

    async def relay_once(self) -> int:
        """Publish one claim's rows (a batch row's events counted each); returns how many
        events were published and marked sent."""
        async with self.engine.begin() as conn:
            rows = await on_driver(conn, _CLAIM, lambda d: d.fetch(_CLAIM, self.batch_size))
            self._taken = not rows[0]["held"]
            if self._taken or rows[0]["position"] is None:
                return 0  # another replica's relay is publishing (its rows come first), or none
            # Up to and including the first batch row; the rest wait for the next round.
            end = next((i + 1 for i, row in enumerate(rows) if row["is_batch"]), len(rows))
            rows = rows[:end]
            events: list[_Event] = [
                (row["event_id"], row["subject"], row["envelope"], row["correlation_id"])
                for row in rows
                if not row["is_batch"]
            ]
            if rows[-1]["is_batch"]:
                events += await self._expand(conn, rows[-1])
            for start in range(0, len(events), self.batch_size):
                await self.acks.publish_all(
                    [self._message(*event) for event in events[start : start + self.batch_size]]
                )
            positions = [row["position"] for row in rows]
            await on_driver(conn, _MARK_SENT, lambda d: d.execute(_MARK_SENT, positions))
        self.published += len(events)
        PUBLISHED.inc(len(events))
        return len(events)

    @staticmethod
    async def _expand(conn: AsyncConnection, row: Any) -> list[_Event]:
        position = row["position"]
        envelope = await on_driver(conn, _BATCH_ROW, lambda d: d.fetchval(_BATCH_ROW, position))
        correlation = envelope.get("correlationid")
        return [
            (event_id, row["subject"], event, correlation)
            for event_id, event in expand_batch(row["event_id"], row["subject"], envelope)
        ]

    def _message(
        self, event_id: Any, subject: str, envelope: str, correlation_id: str | None
    ) -> tuple[str, bytes, dict[str, str]]:
        # The envelope is published as PostgreSQL stored it (jsonb as text): no decode/encode.
        headers = {"Nats-Msg-Id": str(event_id), "Content-Type": _CLOUDEVENT}
        if correlation_id:
            headers["X-Correlation-Id"] = correlation_id
        return self.naming.subject(subject), envelope.encode(), headers

    async def run(self) -> None:
        """Loop until stop(); backs off on errors (NATS or PostgreSQL down) and resumes within
        MAX_RETRY_DELAY of their return."""
        backoff = 0.1
        while not self._stopping.is_set():
            self._woken.clear()  # a commit from here on wakes the next round
            try:
                count = await self.relay_once()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep relaying after transient failures
                log.warning("outbox relay failed, retrying: %s", type(exc).__name__)
                count = 0
                await self._sleep(backoff)
                backoff = min(backoff * 2, MAX_RETRY_DELAY)
                continue
            if self._taken:
                await self._sleep(TAKEN_RETRY_DELAY)
            elif count == 0:
                await self._sleep(self.idle_interval, woken=True)
            elif count < self.batch_size:
                # Under a stream of writes, the next ones are on their way: published together
                # after a short wait, not one round (four round trips) per commit.
                await self._sleep(self.busy_interval)

    async def _sleep(self, seconds: float, *, woken: bool = False) -> None:
        """Until `seconds` have passed or the relay stops (or, `woken`, is woken)."""
        waits = [asyncio.ensure_future(self._stopping.wait())]
        if woken:
            waits.append(asyncio.ensure_future(self._woken.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    def stop(self) -> None:
        self._stopping.set()


# Published rows older than the service's OUTBOX_KEEP_HOURS are deleted, a batch a
# transaction. JetStream holds what was published; a published row is only a copy of personal
# data (names, addresses in the payloads) kept for an operator's look at recent events, so it
# is not kept for ever. Rows not yet published are never deleted, however old.
_PURGE = text(
    """
    DELETE FROM outbox WHERE position IN (
        SELECT position FROM outbox
        WHERE published_at < now() - make_interval(secs => :keep)
        ORDER BY position
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    """
)
PURGE_BATCH = 10_000
PURGE_INTERVAL = 3600.0  # seconds
PURGED = Counter("mch_outbox_purged_total", "Published events deleted from the outbox")


async def purge_published(engine: AsyncEngine, *, keep: timedelta, batch: int = PURGE_BATCH) -> int:
    """Delete the rows published more than `keep` ago, `batch` rows a transaction (a backlog
    after a bulk load does not hold one long transaction); how many were deleted."""
    removed = 0
    while True:
        async with engine.begin() as conn:
            result = await conn.execute(_PURGE, {"keep": keep.total_seconds(), "batch": batch})
        count = int(getattr(result, "rowcount", 0) or 0)
        removed += count
        PURGED.inc(count)
        if count < batch:
            return removed
        log.info("outbox: %d published events deleted so far", removed)


def published_events_cleanup(
    engine: AsyncEngine, *, keep: timedelta, every: float = PURGE_INTERVAL
) -> PeriodicJob:
    """The service lifespan's job: published events past `keep` deleted every `every` s."""

    async def purge() -> None:
        removed = await purge_published(engine, keep=keep)
        if removed:
            log.info("outbox: %d events published over %s ago deleted", removed, keep)

    return PeriodicJob("mch_common.outbox_purge", purge, every=every)
