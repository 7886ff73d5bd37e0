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
import logging
from datetime import timedelta
from typing import Any

from nats.js import JetStreamContext
from prometheus_client import Counter
from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mch_common.events.batch import BATCH_KEY, expand_batch
from mch_common.events.bus import EventNaming
from mch_common.events.outbox import watch_outbox
from mch_common.jobs import PeriodicJob

log = logging.getLogger("mch.events.relay")

# A batch row's envelope is large (its list of what it stands for) and is not published: it
# is not sent to the relay, which would decode it on every claim until its turn comes.
_CLAIM = text(
    f"""
    SELECT position, event_id, subject, is_batch,
           CASE WHEN NOT is_batch THEN envelope::text END AS envelope,
           CASE WHEN NOT is_batch THEN envelope->>'correlationid' END AS correlation_id
    FROM (
        SELECT position, event_id, subject, envelope, envelope ? '{BATCH_KEY}' AS is_batch
        FROM outbox
        WHERE published_at IS NULL
        ORDER BY position
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ) claimed
    ORDER BY position
    """
)
# Per process: with several replicas, each one's share of the publishing.
PUBLISHED = Counter("mch_outbox_published_total", "Events this process's outbox relay published")
# One publishing relay per database; a relay that finds it taken skips its round.
_RELAY_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended('mch.outbox.relay', 0))")
_BATCH_ROW = text("SELECT envelope FROM outbox WHERE position = :position")
_MARK_SENT = text("UPDATE outbox SET published_at = now() WHERE position = ANY(:positions)")
# After a failure (NATS or PostgreSQL away) the relay tries again after 0.1 s, doubling up to
# this: a relay still waiting out a longer backoff when the server came back kept the events
# written since in the outbox for that long (seen: 4 s after an 8 s PostgreSQL outage).
MAX_RETRY_DELAY = 1.0
# How long a round waits for JetStream's acks (nats-py's own default for a publish).
PUBLISH_TIMEOUT = 5.0
# A relay that found another replica's relay publishing looks again after this: that claim
# may have been made before this process's events committed.
TAKEN_RETRY_DELAY = 0.05


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        js: JetStreamContext,
        naming: EventNaming,
        *,
        batch_size: int = 1000,
        idle_interval: float = 1.0,
        busy_interval: float = 0.05,
    ) -> None:
        self.engine = engine
        self.js = js
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
            self._taken = not (await conn.execute(_RELAY_LOCK)).scalar_one()
            if self._taken:
                return 0  # another replica's relay is publishing: its rows come first
            rows = (await conn.execute(_CLAIM, {"limit": self.batch_size})).all()
            if not rows:
                return 0
            # Up to and including the first batch row; the rest wait for the next round.
            end = next((i + 1 for i, row in enumerate(rows) if row.is_batch), len(rows))
            rows = rows[:end]
            events = [
                (row.event_id, row.subject, row.envelope, row.correlation_id)
                for row in rows
                if not row.is_batch
            ]
            if rows[-1].is_batch:
                events += await self._expand(conn, rows[-1])
            for start in range(0, len(events), self.batch_size):
                await self._publish_all(events[start : start + self.batch_size])
            await conn.execute(_MARK_SENT, {"positions": [row.position for row in rows]})
        self.published += len(events)
        PUBLISHED.inc(len(events))
        return len(events)

    @staticmethod
    async def _expand(
        conn: AsyncConnection, row: Row[Any]
    ) -> list[tuple[Any, str, str, str | None]]:
        envelope = (await conn.execute(_BATCH_ROW, {"position": row.position})).scalar_one()
        correlation = envelope.get("correlationid")
        return [
            (event_id, row.subject, event, correlation)
            for event_id, event in expand_batch(row.event_id, row.subject, envelope)
        ]

    async def _publish_all(self, events: list[tuple[Any, str, str, str | None]]) -> None:
        """Every event sent in order without waiting for its ack, then every ack awaited at
        once, under one timer: `js.publish` waits for each under a timer of its own (measured:
        31-33 µs of CPU an event, against 20-22 this way). An event JetStream refused, or did not
        acknowledge within PUBLISH_TIMEOUT, fails the round: its rows stay unsent."""
        acks: list[asyncio.Future[Any]] = []
        try:
            for event in events:
                acks.append(await self._publish(*event))
            done, pending = await asyncio.wait(acks, timeout=PUBLISH_TIMEOUT)
        except BaseException:
            for ack in acks:
                ack.cancel()  # frees its place among the context's pending publishes
            raise
        for ack in pending:
            ack.cancel()
        refused = [error for ack in done if (error := ack.exception()) is not None]
        if refused:
            raise refused[0]
        if pending:
            raise TimeoutError(f"JetStream acknowledged {len(done)} of {len(acks)} events")

    async def _publish(
        self, event_id: Any, subject: str, envelope: str, correlation_id: str | None
    ) -> "asyncio.Future[Any]":
        # The envelope is published as PostgreSQL stored it (jsonb as text): no decode/encode.
        headers = {"Nats-Msg-Id": str(event_id), "Content-Type": "application/cloudevents+json"}
        if correlation_id:
            headers["X-Correlation-Id"] = correlation_id
        return await self.js.publish_async(
            self.naming.subject(subject), envelope.encode(), headers=headers
        )

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
