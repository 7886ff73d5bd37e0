"""Bulk load: CSV lines are validated in Python, numbers resolved and My Numbers encrypted per
chunk. New people go straight to their tables by COPY, then their first versions and change
rows are written set-based; people already registered are COPY'd into a temporary staging
table and merged set-based (UPDATE ... FROM, INSERT ... SELECT). Both write the same history
and change log the API writes, and the same events reach the bus: a chunk's events are batch
rows of mch_common.events.batch (one per event type), which the relay expands.

Idempotent: a person is matched by person number, else by external key; an unchanged line
changes nothing (no version, no event). Each chunk commits on its own, so a re-run after a
crash picks up where it stopped.

The file is read, validated and de-duplicated in a process of its own, which sends chunks of
valid records ahead. Chunks are loaded on every connection given, at once: while one
connection's backend merges a chunk, the loader numbers and encrypts the next. A file names
each person once (repeats are rejected), so chunks never touch the same person; households
are created ahead of their members, idempotently, outside the chunks.

This module runs the pipeline; each step has its own: the hand-over from the parsing process
(handover.py), numbering and encryption (numbering.py), COPY, merge, history and events
(writing.py, its SQL in statements.py), an initial load's index rebuild (indexes.py).
"""

import asyncio
import gc
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date
from multiprocessing.connection import Connection

import asyncpg

from atena import events
from atena.bulk.handover import receive_chunk, start_parser
from atena.bulk.indexes import drop_secondary_indexes, restore_indexes
from atena.bulk.numbering import prepare, resolve
from atena.bulk.parse import Record
from atena.bulk.report import LoadReport
from atena.bulk.statements import RESET, SETUP
from atena.bulk.writing import ChunkWriter
from mch_common.events.envelope import event_source
from mch_common.lines import LineError, detect_encoding, record_rejection
from mch_common.mynumber import MyNumberVault


class Loader:
    """`connections`: the first also prepares and finishes the load; chunks go to all."""

    def __init__(
        self,
        connections: Sequence[asyncpg.Connection],
        *,
        tenant: str,
        vault: MyNumberVault,
        actor: str,
        today: date,
        emit_events: bool = True,
        on_error: Callable[[LineError], None] | None = None,
    ) -> None:
        if not connections:
            raise ValueError("the loader needs at least one connection")
        self.conn = connections[0]
        self.connections = list(connections)
        self.tenant = tenant
        self.source = event_source(events.SERVICE, tenant)
        self.vault = vault
        self.actor = actor
        self.emit_events = emit_events
        self.today = today
        self.report = LoadReport()
        self._on_error = on_error
        self._lock = threading.Lock()
        self._initial = False

    def _reject(self, error: LineError) -> None:
        with self._lock:  # the receiving thread and the event loop both report
            record_rejection(self.report, error, self._on_error)

    async def load(
        self,
        path: str,
        *,
        encoding: str | None = None,
        chunk_size: int = 20_000,
        progress: Callable[[LoadReport], None] | None = None,
        rebuild_indexes: str = "auto",
    ) -> LoadReport:
        """`rebuild_indexes`: "auto" drops and rebuilds secondary indexes when the registry is
        empty (an initial load), "never" keeps them."""
        started = time.perf_counter()
        for conn in self.connections:
            await conn.execute(SETUP)
            # Compiling the big set-based statements (JIT) costs more than it saves here.
            await conn.execute("SET jit = off")
            if not self.emit_events:
                # A crash of the database loses at most the last chunks' commits, and a re-run
                # loads them again. Not with events: an asynchronous commit is seen by the relay
                # before it is durable, which could publish a chunk the crash then takes back.
                await conn.execute("SET synchronous_commit = off")
            # A chunk's snapshots are kept in memory while they are written three times.
            await conn.execute("SET work_mem = '64MB'")
        if await self.conn.fetchval("SELECT count(*) FROM bulk_deferred_index"):
            await restore_indexes(self.connections)  # an earlier initial load was interrupted
        self._initial = rebuild_indexes == "auto" and not await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM person)"
        )
        if self._initial:
            await drop_secondary_indexes(self.conn)
        try:
            await self._load_file(path, encoding, chunk_size, progress, started)
        finally:
            if self._initial:
                await restore_indexes(self.connections)
        self.report.seconds = time.perf_counter() - started
        return self.report

    async def _load_file(
        self,
        path: str,
        encoding: str | None,
        chunk_size: int,
        progress: Callable[[LoadReport], None] | None,
        started: float,
    ) -> None:
        if encoding is None:
            with open(path, "rb") as raw:  # noqa: ASYNC230 - 64 KiB, once
                encoding = detect_encoding(raw.read(65536))
        self.report.encoding = encoding
        # Reading and validating the file (a third of the loader's CPU) runs in a process of its
        # own, a chunk or two ahead: in a thread it would hold the GIL the event loop needs.
        parser, receiver = start_parser(path, encoding, chunk_size, self.tenant, self.today)
        ready: asyncio.Queue[list[Record] | None] = asyncio.Queue(1)
        writer = ChunkWriter(
            tenant=self.tenant,
            source=self.source,
            actor=self.actor,
            emit_events=self.emit_events,
            initial=self._initial,
            report=self.report,
            reject=self._reject,
        )

        async def parse() -> None:
            while (chunk := await asyncio.to_thread(self._receive, receiver)) is not None:
                if chunk:
                    await ready.put(chunk)
                    # The next chunk's records are made once this one is taken: one chunk
                    # waits for a connection, not two (peak memory), still long before one
                    # is free. The parsing process meanwhile reads ahead into the pipe.
                    await ready.join()
            for _ in self.connections:
                await ready.put(None)

        async def load(conn: asyncpg.Connection) -> None:
            while (chunk := await ready.get()) is not None:
                ready.task_done()
                chunk = await resolve(conn, chunk, initial=self._initial, reject=self._reject)
                prepared = await asyncio.to_thread(prepare, chunk, self.vault)
                async with conn.transaction():
                    await writer.write(conn, prepared)
                    await conn.execute(RESET)
                self.report.seconds = time.perf_counter() - started
                if progress is not None:
                    progress(self.report)

        # A thread keeps the GIL for up to 5 ms (the default switch interval) each time the
        # event loop needs it to read a reply from PostgreSQL.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        # The chunks in flight are hundreds of thousands of objects, all freed by their
        # reference counts: the collector's passes over them found a few hundred in cycles
        # per 300,000 lines and took a fifth of the loader's CPU (docs/benchmarks.md).
        collecting = gc.isenabled()
        gc.disable()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(parse())
                for conn in self.connections:
                    tasks.create_task(load(conn))
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None  # the first failure, as a caller expects
        finally:
            sys.setswitchinterval(switch_interval)
            if collecting:
                gc.enable()
            if parser.poll() is None:
                parser.kill()
            parser.wait()
            receiver.close()

    def _receive(self, receiver: Connection) -> list[Record] | None:
        """The next chunk's records, its line count and rejections reported; None at the end."""
        received = receive_chunk(receiver)
        if received is None:
            return None
        records, errors, lines = received
        self.report.lines += lines
        for error in errors:
            self._reject(error)
        return records
