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
"""

import asyncio
import marshal
import multiprocessing
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from itertools import groupby, islice
from multiprocessing.connection import Connection
from operator import itemgetter
from typing import Any, NamedTuple

import asyncpg

from atena import events
from atena.bulk.parse import (
    LineParser,
    Record,
    detect_encoding,
    open_text,
    read_lines,
)
from atena.numbers import HOUSEHOLD_SERIAL_START, person_no_from_serial
from mch_common.events.batch import INSERT_BATCH_ROW, batch_row
from mch_common.events.envelope import event_source
from mch_common.lines import LineError, record_rejection
from mch_common.mynumber import MyNumberVault

# Compared to decide whether a line changes the person, and copied on insert/update.
DATA_COLUMNS = (
    "external_key",
    "residence_status",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "name_key",
    "kana_key",
    "sex",
    "birth_date",
    "death_date",
    "postal_code",
    "prefecture",
    "municipality_code",
    "ward_code",
    "town",
    "block",
    "building",
    "household_no",
    "relationship_to_head",
    "phone",
    "email",
)
STAGING_COLUMNS = (
    "line_no",
    "person_no",
    *DATA_COLUMNS,
    "mn_key_id",
    "mn_cipher",
    "mn_blind",
    "effective_date",
)
# A new person's row and My Number go straight to their tables (COPY).
PERSON_COLUMNS = ("person_no", "version", "delivery_addresses", *DATA_COLUMNS)
MY_NUMBER_COLUMNS = ("person_no", "key_id", "ciphertext", "blind_index")
_LOADED = '{"source": "bulk_load"}'
_REASON = "resident registry extract"

_SETUP = """
CREATE TEMP TABLE IF NOT EXISTS atena_staging (
    line_no int, person_no text, external_key text, residence_status text, family_name text,
    given_name text, family_name_kana text, given_name_kana text, name_key text COLLATE "C",
    kana_key text COLLATE "C", sex text, birth_date date, death_date date, postal_code text,
    prefecture text, municipality_code text, ward_code text, town text, block text,
    building text, household_no text, relationship_to_head text, phone text, email text,
    mn_key_id text, mn_cipher bytea, mn_blind bytea, effective_date date
);
CREATE TEMP TABLE IF NOT EXISTS atena_before (person_no text PRIMARY KEY, snap jsonb);
CREATE TEMP TABLE IF NOT EXISTS atena_changed (
    person_no text PRIMARY KEY, inserted bool, snap jsonb, eff date,
    verb text, before jsonb, after jsonb
);
"""
_RESET = "TRUNCATE atena_staging, atena_before, atena_changed"

_cols = ", ".join(DATA_COLUMNS)
_p_cols = ", ".join(f"p.{c}" for c in DATA_COLUMNS)
_s_cols = ", ".join(f"s.{c}" for c in DATA_COLUMNS)

_BEFORE = f"""
INSERT INTO atena_before (person_no, snap)
SELECT p.person_no, atena_snapshot(p) FROM atena_staging s JOIN person p USING (person_no)
WHERE ({_p_cols}) IS DISTINCT FROM ({_s_cols})
"""
_UPDATE_EXISTING = f"""
WITH up AS (
    UPDATE person AS p SET ({_cols}) = ({_s_cols}), version = p.version + 1, updated_at = now()
    FROM atena_staging s
    WHERE s.person_no = p.person_no AND ({_p_cols}) IS DISTINCT FROM ({_s_cols})
    RETURNING p.person_no, atena_snapshot(p) AS snap, s.effective_date
)
INSERT INTO atena_changed (person_no, inserted, snap, eff)
SELECT up.person_no, false, up.snap, up.effective_date FROM up
"""
# A later line may not rewrite what an earlier change recorded: such a change takes effect
# no earlier than the latest version it follows.
_EFFECTIVE = """
UPDATE atena_changed c SET eff = GREATEST(c.eff, v.latest)
FROM (SELECT person_no, max(valid_from) AS latest FROM person_version
      WHERE superseded_at IS NULL AND person_no IN
          (SELECT person_no FROM atena_changed WHERE NOT inserted)
      GROUP BY person_no) v
WHERE v.person_no = c.person_no
"""
_DIFF = """
UPDATE atena_changed c SET before = d.before, after = d.after, verb = CASE
        WHEN d.keys @> ARRAY['residence_status'] AND c.snap->>'residence_status' = 'deceased'
            THEN 'died'
        WHEN d.keys @> ARRAY['residence_status'] AND c.snap->>'residence_status' = 'moved_out'
            THEN 'moved_out'
        WHEN d.keys @> ARRAY['residence_status'] AND c.snap->>'residence_status' = 'resident'
            THEN 'moved_in'
        WHEN d.keys <@ ARRAY['address', 'household_no', 'relationship_to_head']
            THEN 'address_changed'
        WHEN d.keys <@ ARRAY['family_name', 'given_name', 'family_name_kana', 'given_name_kana']
            THEN 'name_changed'
        ELSE 'corrected' END
FROM (SELECT c2.person_no, jsonb_object_agg(k, b.snap->k) AS before,
             jsonb_object_agg(k, c2.snap->k) AS after, array_agg(k) AS keys
      FROM atena_changed c2 JOIN atena_before b USING (person_no),
           LATERAL jsonb_object_keys(c2.snap) AS k
      WHERE NOT c2.inserted AND k <> 'version' AND b.snap->k IS DISTINCT FROM c2.snap->k
      GROUP BY c2.person_no) d
WHERE d.person_no = c.person_no
"""
_CLOSE_VERSIONS = """
UPDATE person_version v SET valid_to = c.eff
FROM atena_changed c
WHERE NOT c.inserted AND v.person_no = c.person_no AND v.valid_to IS NULL
  AND v.superseded_at IS NULL
"""
_VERSIONS = """
INSERT INTO person_version (person_no, version, valid_from, snapshot, recorded_at)
SELECT person_no, (snap->>'version')::int, eff, snap, now() FROM atena_changed
"""
_CHANGES = """
INSERT INTO person_change
    (person_no, version, change_type, effective_date, actor, reason, before, after, detail)
SELECT person_no, (snap->>'version')::int, verb, eff, $1, $2, before, after, $3::jsonb
FROM atena_changed
"""
# The events of the merged people: (type, person number, payload), grouped by type. The
# payloads are atena.events' person payloads, built here from the rows just written.
_CHANGED_EVENTS = """
SELECT 'atena.person.' || verb, person_no, (jsonb_build_object(
        'person_no', person_no, 'effective_date', eff, 'before', before, 'after', after,
        'person', snap
    ) || CASE verb
        WHEN 'moved_in' THEN '{"previous_municipality_code": null}'::jsonb
        WHEN 'moved_out' THEN '{"destination_municipality_code": null}'::jsonb
        ELSE '{}'::jsonb END)::text
FROM atena_changed ORDER BY verb, person_no
"""
# New people, once COPY'd: their first version and the registration in one statement; the
# snapshot is built once per person and kept in memory, not in a table. With events, the
# registrations' payloads come back as JSON text for the chunk's batch row.
_REGISTER = """
WITH s AS MATERIALIZED (
    SELECT p.person_no, e.eff, atena_snapshot(p) AS snap
    FROM unnest($1::text[], $2::date[]) AS e (person_no, eff) JOIN person p USING (person_no)
), n AS MATERIALIZED (
    SELECT person_no, eff, 'registered'::text AS verb, '{{}}'::jsonb AS before,
           snap - 'version' AS after, snap
    FROM s
), versions AS (
    INSERT INTO person_version (person_no, version, valid_from, snapshot)
    SELECT person_no, 1, eff, snap FROM n
), changes AS (
    INSERT INTO person_change
        (person_no, version, change_type, effective_date, actor, reason, before, after, detail)
    SELECT person_no, 1, verb, eff, $3, $4, before, after, $5::jsonb FROM n
    RETURNING 1
)
{result}
"""
_REGISTER_EVENTS = _REGISTER.format(
    result="""SELECT person_no, json_build_object(
    'person_no', person_no, 'effective_date', eff, 'before', before, 'after', after,
    'person', snap
)::text FROM n"""
)
_REGISTER_ONLY = _REGISTER.format(result="SELECT count(*) FROM changes")
_HOUSEHOLDS_KNOWN = (
    "SELECT h.external_key, h.household_no FROM unnest($1::text[]) AS k (external_key)"
    " JOIN household h USING (external_key)"
)
# Households first, each in one statement of its own: concurrent chunks naming the same
# household wait for each other only for this statement, and sorted keys never deadlock.
_HOUSEHOLDS = """
INSERT INTO household (household_no, external_key)
SELECT n, k FROM unnest($1::text[], $2::text[]) AS h (k, n) ORDER BY k
ON CONFLICT (external_key) DO NOTHING
RETURNING external_key, household_no
"""
_MY_NUMBERS = """
INSERT INTO person_my_number (person_no, key_id, ciphertext, blind_index)
SELECT person_no, mn_key_id, mn_cipher, mn_blind FROM atena_staging
WHERE mn_blind IS NOT NULL
ON CONFLICT (person_no) DO UPDATE SET key_id = EXCLUDED.key_id,
    ciphertext = EXCLUDED.ciphertext, blind_index = EXCLUDED.blind_index, registered_at = now()
WHERE person_my_number.blind_index <> EXCLUDED.blind_index
"""


# Tables whose secondary indexes an initial load drops and rebuilds (CREATE INDEX over a full
# table is far cheaper than maintaining it row by row; an empty registry has no readers).
REBUILT_TABLES = ["person", "person_version", "person_change", "person_my_number"]
_SECONDARY_DDL = """
SELECT i.relname, 'DROP INDEX ' || quote_ident(i.relname), pg_get_indexdef(i.oid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
WHERE c.relname = ANY($1::text[]) AND NOT x.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid)
UNION ALL
SELECT k.conname, format('ALTER TABLE %I DROP CONSTRAINT %I', c.relname, k.conname),
       format('ALTER TABLE %I ADD CONSTRAINT %I %s', c.relname, k.conname,
              pg_get_constraintdef(k.oid))
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
WHERE c.relname = ANY($1::text[]) AND k.contype IN ('u', 'f')
"""


# The parsing process sends records as plain tuples in Record's field order, dates as ordinals,
# through marshal: a third of the cost of pickling the same rows (pickle memoizes every object
# and reduces every date). Errors go as (line, field, reason); a failure as a pickled exception.
_BIRTH_AT, _DEATH_AT, _EFFECTIVE_AT = (
    [f.name for f in fields(Record)].index(name)
    for name in ("birth_date", "death_date", "effective_date")
)
_MARSHALLED, _PICKLED = b"M", b"P"


def _wire(r: Record) -> tuple[Any, ...]:
    return (
        r.line,
        r.external_key,
        r.person_no,
        r.residence_status,
        r.family_name,
        r.given_name,
        r.family_name_kana,
        r.given_name_kana,
        r.name_key,
        r.kana_key,
        r.sex,
        r.birth_date.toordinal(),
        r.death_date.toordinal() if r.death_date else None,
        r.postal_code,
        r.prefecture,
        r.municipality_code,
        r.ward_code,
        r.town,
        r.block,
        r.building,
        r.household_key,
        r.relationship_to_head,
        r.phone,
        r.email,
        r.my_number,
        r.effective_date.toordinal(),
    )


def _record(row: tuple[Any, ...]) -> Record:
    death = row[_DEATH_AT]
    dates = (
        date.fromordinal(row[_BIRTH_AT]),
        date.fromordinal(death) if death is not None else None,
    )
    return Record(
        *(
            row[:_BIRTH_AT]
            + dates
            + row[_DEATH_AT + 1 : _EFFECTIVE_AT]
            + (date.fromordinal(row[_EFFECTIVE_AT]),)
        )
    )


class UniqueRecords:
    """The valid lines of a file, each person once: a line repeating an earlier line's external
    key, person number or My Number is rejected (the first stands)."""

    def __init__(self, parser: LineParser) -> None:
        self.parser = parser
        self.lines = 0
        self.errors: list[LineError] = []
        self._keys: set[str] = set()
        self._person_nos: set[str] = set()
        self._numbers: set[int] = set()

    def __call__(self, lines: Iterable[tuple[int, list[str]]]) -> Iterator[Record]:
        for line, row in lines:
            self.lines += 1
            parsed = self.parser.parse(line, row)
            if isinstance(parsed, LineError):
                self.errors.append(parsed)
                continue
            if parsed.external_key in self._keys:
                self.errors.append(LineError(line, "external_key", "repeated in this file"))
                continue
            if parsed.person_no is not None and parsed.person_no in self._person_nos:
                self.errors.append(LineError(line, "person_no", "repeated in this file"))
                continue
            if parsed.my_number is not None and int(parsed.my_number) in self._numbers:
                self.errors.append(LineError(line, "my_number", "repeated in this file"))
                continue
            self._keys.add(parsed.external_key)
            if parsed.person_no is not None:
                self._person_nos.add(parsed.person_no)
            if parsed.my_number is not None:
                self._numbers.add(int(parsed.my_number))
            yield parsed

    def take(self) -> tuple[list[LineError], int]:
        """The errors and the count of lines read since the last call."""
        taken = self.errors, self.lines
        self.errors, self.lines = [], 0
        return taken


def read_valid_chunks(
    path: str, encoding: str, chunk_size: int, tenant: str, today: date, sender: Connection
) -> None:
    """The parsing process: sends (record tuples, line errors, lines read) per chunk, then None.
    A failure (a wrong header, bytes that are not the encoding) is sent, not raised."""

    def send(rows: list[tuple[Any, ...]], errors: list[LineError], lines: int) -> None:
        errors_sent = [(e.line, e.field, e.reason) for e in errors]
        sender.send_bytes(_MARSHALLED + marshal.dumps((rows, errors_sent, lines)))

    try:
        stream, _ = open_text(path, encoding)
        with stream:
            unique = UniqueRecords(LineParser(tenant=tenant, today=today))
            for chunk in _chunks(unique(read_lines(stream)), chunk_size):
                send([_wire(r) for r in chunk], *unique.take())
            send([], *unique.take())  # rejected lines after the last chunk
        sender.send_bytes(_MARSHALLED + marshal.dumps(None))
    except Exception as exc:  # noqa: BLE001 - the loader raises it
        sender.send_bytes(_PICKLED + pickle.dumps(exc))
    finally:
        sender.close()


@dataclass
class LoadReport:
    encoding: str = ""
    lines: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    seconds: float = 0.0
    errors: list[LineError] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "lines": self.lines,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 2),
        }


def _chunks(items: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Loader:
    """`connections`: the first also prepares and finishes the load; chunks go to all.

    The file is read in a spawned process, which imports the caller's main module again: a
    script that loads must start under `if __name__ == "__main__":` (atena.cli does)."""

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

    async def _drop_secondary_indexes(self) -> None:
        async with self.conn.transaction():
            for name, drop, create in await self.conn.fetch(_SECONDARY_DDL, REBUILT_TABLES):
                await self.conn.execute(
                    "INSERT INTO bulk_deferred_index (name, ddl) VALUES ($1, $2)", name, create
                )
                await self.conn.execute(drop)

    async def _restore_indexes(self) -> None:
        """Build the deferred indexes and constraints, on every connection at once; foreign
        keys after (their check reads the indexes built before), then fresh statistics."""
        pending: list[tuple[str | None, str]] = sorted(
            (
                (row["name"], row["ddl"])
                for row in await self.conn.fetch("SELECT name, ddl FROM bulk_deferred_index")
            ),
            key=lambda item: " FOREIGN KEY " in item[1],
        )
        pending += [(None, f"ANALYZE {table}") for table in REBUILT_TABLES]

        async def build(conn: asyncpg.Connection) -> None:
            await conn.execute("SET maintenance_work_mem = '128MB'")
            while pending:
                name, ddl = pending.pop(0)
                async with conn.transaction():
                    if " FOREIGN KEY " in ddl:
                        # The check merges the two indexes built just before, where a hash
                        # join would read and hash both whole tables (a third slower).
                        await conn.execute("SET LOCAL enable_hashjoin = off")
                    await conn.execute(ddl)
                    if name is not None:
                        await conn.execute("DELETE FROM bulk_deferred_index WHERE name = $1", name)
            await conn.execute("RESET maintenance_work_mem")

        # After a failure some connection may be gone; the others (at least one) carry on.
        live = [conn for conn in self.connections if not conn.is_closed()] or [self.conn]
        await asyncio.gather(*(build(conn) for conn in live))

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
            await conn.execute(_SETUP)
            # Compiling the big set-based statements (JIT) costs more than it saves here.
            await conn.execute("SET jit = off")
            # A crash loses at most the last chunks' commits, and a re-run loads them again.
            await conn.execute("SET synchronous_commit = off")
            # A chunk's snapshots are kept in memory while they are written three times.
            await conn.execute("SET work_mem = '64MB'")
        if await self.conn.fetchval("SELECT count(*) FROM bulk_deferred_index"):
            await self._restore_indexes()  # an earlier initial load was interrupted
        self._initial = rebuild_indexes == "auto" and not await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM person)"
        )
        if self._initial:
            await self._drop_secondary_indexes()
        try:
            await self._load_file(path, encoding, chunk_size, progress, started)
        finally:
            if self._initial:
                await self._restore_indexes()
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
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        parser = context.Process(
            target=read_valid_chunks,
            args=(path, encoding, chunk_size, self.tenant, self.today, sender),
            name="atena-load-parser",
            daemon=True,
        )
        parser.start()
        sender.close()
        ready: asyncio.Queue[list[Record] | None] = asyncio.Queue(1)

        async def parse() -> None:
            while (chunk := await asyncio.to_thread(self._receive, receiver)) is not None:
                if chunk:
                    await ready.put(chunk)
            for _ in self.connections:
                await ready.put(None)

        async def load(conn: asyncpg.Connection) -> None:
            while (chunk := await ready.get()) is not None:
                chunk = await self._resolve(conn, chunk)
                prepared = await asyncio.to_thread(self._prepare, chunk)
                async with conn.transaction():
                    await self._load_chunk(conn, prepared)
                    await conn.execute(_RESET)
                self.report.seconds = time.perf_counter() - started
                if progress is not None:
                    progress(self.report)

        # A thread keeps the GIL for up to 5 ms (the default switch interval) each time the
        # event loop needs it to read a reply from PostgreSQL.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(parse())
                for conn in self.connections:
                    tasks.create_task(load(conn))
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None  # the first failure, as a caller expects
        finally:
            sys.setswitchinterval(switch_interval)
            if parser.is_alive():
                parser.kill()
            parser.join()
            receiver.close()

    def _receive(self, receiver: Connection) -> list[Record] | None:
        """The parsing process's next chunk (empty: only rejected lines); None at the end."""
        try:
            message = receiver.recv_bytes()
        except EOFError:
            raise RuntimeError("the parsing process ended without finishing the file") from None
        if message[:1] == _PICKLED:
            # The file's own error (header, encoding), as reading it would raise.
            raise pickle.loads(message[1:])
        content = marshal.loads(message[1:])
        if content is None:
            return None
        rows, errors, lines = content
        self.report.lines += lines
        for error in errors:
            self._reject(LineError(*error))
        return [_record(row) for row in rows]

    @staticmethod
    async def _numbers(conn: asyncpg.Connection, sequence: str, count: int) -> list[str]:
        if count == 0:
            return []
        # One array value, not a row per number: far less for the event loop to unpack.
        serials = await conn.fetchval(
            "SELECT array_agg(nextval($1::regclass)) FROM generate_series(1, $2)", sequence, count
        )
        return [person_no_from_serial(serial) for serial in serials]

    async def _resolve(self, conn: asyncpg.Connection, chunk: list[Record]) -> list[Record]:
        """Give every record its person number and household number; reject conflicts. Runs
        outside the chunk's transaction: numbers and households are taken for good."""
        # In an initial load every key is new (repeats within the file are already rejected),
        # and the index that would answer this is being rebuilt.
        by_key = (
            {}
            if self._initial
            else dict(
                await conn.fetch(
                    "SELECT external_key, person_no FROM person"
                    " WHERE external_key = ANY($1::text[])",
                    [r.external_key for r in chunk],
                )
            )
        )
        given = [r.person_no for r in chunk if r.person_no is not None]
        by_no: dict[str, str | None] = (
            dict(
                await conn.fetch(
                    "SELECT person_no, external_key FROM person WHERE person_no = ANY($1::text[])",
                    given,
                )
            )
            if given
            else {}
        )
        kept: list[Record] = []
        for r in chunk:
            existing = by_key.get(r.external_key)
            if r.person_no is None:
                r.person_no = existing
                r.is_new = existing is None
            elif existing is not None and existing != r.person_no:
                self._reject(LineError(r.line, "external_key", "belongs to another person number"))
                continue
            elif r.person_no in by_no and by_no[r.person_no] not in (None, r.external_key):
                self._reject(LineError(r.line, "person_no", "registered with another external key"))
                continue
            else:
                r.is_new = r.person_no not in by_no
            kept.append(r)
        in_range = [int(no[:9]) for no in given if int(no[:9]) < HOUSEHOLD_SERIAL_START]
        if in_range:
            # Numbers carried over from the extract must never be issued again.
            await conn.execute(
                "SELECT setval('person_serial', GREATEST($1::bigint, last_value)) "
                "FROM person_serial",
                max(in_range),
            )
        fresh = [r for r in kept if r.person_no is None]
        numbers = await self._numbers(conn, "person_serial", len(fresh))
        for r, number in zip(fresh, numbers, strict=True):
            r.person_no = number

        keys = sorted({r.household_key for r in kept if r.household_key})
        # In an initial load nearly every household is new: no lookup first.
        households = {} if self._initial else dict(await conn.fetch(_HOUSEHOLDS_KNOWN, keys))
        missing = [k for k in keys if k not in households]
        if missing:
            numbers = await self._numbers(conn, "household_serial", len(missing))
            households.update(await conn.fetch(_HOUSEHOLDS, missing, numbers))
            # An earlier chunk, or another connection first, created the rest: theirs stand.
            if taken := [k for k in missing if k not in households]:
                households.update(await conn.fetch(_HOUSEHOLDS_KNOWN, taken))
        for r in kept:  # from here on the field holds the household number
            r.household_key = households[r.household_key] if r.household_key else None
        return kept

    def _prepare(self, chunk: list[Record]) -> "_Prepared":
        """Encrypt the My Numbers; stage the people already registered for the set-based merge;
        the rest are new people, COPY'd straight into their tables."""
        vault, prepared = self.vault, _Prepared()
        for r in chunk:
            assert r.person_no is not None
            key_id = cipher = blind = None
            if r.my_number is not None:
                blind = vault.blind_index(r.my_number)
                sealed = vault.encrypt(r.my_number, aad=r.person_no.encode())
                key_id, cipher = sealed.key_id, sealed.ciphertext
                prepared.numbers[blind] = (r.line, r.person_no)
            data = (
                r.external_key,
                r.residence_status,
                r.family_name,
                r.given_name,
                r.family_name_kana,
                r.given_name_kana,
                r.name_key,
                r.kana_key,
                r.sex,
                r.birth_date,
                r.death_date,
                r.postal_code,
                r.prefecture,
                r.municipality_code,
                r.ward_code,
                r.town,
                r.block,
                r.building,
                r.household_key,
                r.relationship_to_head,
                r.phone,
                r.email,
            )
            if not r.is_new:
                prepared.staging.append(
                    (r.line, r.person_no, *data, key_id, cipher, blind, r.effective_date)
                )
                continue
            prepared.new.append(
                _NewPerson(
                    r.line,
                    (r.person_no, 1, "[]", *data),
                    r.effective_date,
                    (r.person_no, key_id, cipher, blind) if blind is not None else None,
                )
            )
        return prepared

    async def _insert_new(self, conn: asyncpg.Connection, new: list["_NewPerson"]) -> None:
        await conn.copy_records_to_table(
            "person", records=[n.person for n in new], columns=PERSON_COLUMNS
        )
        my_numbers = [n.my_number for n in new if n.my_number is not None]
        if my_numbers:
            await conn.copy_records_to_table(
                "person_my_number", records=my_numbers, columns=MY_NUMBER_COLUMNS
            )
        register = (
            [n.person[0] for n in new],
            [n.effective_date for n in new],
            self.actor,
            _REASON,
            _LOADED,
        )
        if self.emit_events:
            registered = await conn.fetch(_REGISTER_EVENTS, *register)
            await self._write_events(conn, events.PERSON_REGISTERED.type, registered)
        else:
            await conn.fetchval(_REGISTER_ONLY, *register)
        self.report.inserted += len(new)

    async def _write_events(
        self, conn: asyncpg.Connection, type: str, items: Sequence[tuple[str, str]]
    ) -> None:
        """One batch row for the events `(subject, payload JSON)` of one type."""
        if items:
            # Compressed off the event loop, which meanwhile serves the other connections.
            row = await asyncio.to_thread(
                batch_row, source=self.source, type=type, tenant=self.tenant, items=items
            )
            await conn.execute(INSERT_BATCH_ROW, *row.params())

    async def _load_chunk(self, conn: asyncpg.Connection, prepared: "_Prepared") -> None:
        if not self._initial:  # (an initial load has no numbers to collide with)
            await self._refuse_numbers_of_others(conn, prepared)
        if prepared.new:
            await self._insert_new(conn, prepared.new)
        if prepared.staging:
            await self._merge_existing(conn, prepared.staging)

    async def _refuse_numbers_of_others(
        self, conn: asyncpg.Connection, prepared: "_Prepared"
    ) -> None:
        """A line whose My Number is registered to another person is rejected whole."""
        if not prepared.numbers:
            return
        holders = dict(
            await conn.fetch(
                "SELECT blind_index, person_no FROM person_my_number WHERE blind_index = ANY($1)",
                list(prepared.numbers),
            )
        )
        refused = {
            line
            for blind, (line, person_no) in prepared.numbers.items()
            if holders.get(blind, person_no) != person_no
        }
        for line in sorted(refused):
            self._reject(LineError(line, "my_number", "registered to another person"))
        if refused:
            prepared.new = [n for n in prepared.new if n.line not in refused]
            prepared.staging = [row for row in prepared.staging if row[0] not in refused]

    async def _merge_existing(self, conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
        await conn.copy_records_to_table("atena_staging", records=rows, columns=STAGING_COLUMNS)
        await conn.execute(_BEFORE)
        await conn.execute(_UPDATE_EXISTING)
        await conn.execute(_EFFECTIVE)
        await conn.execute(_DIFF)
        await conn.execute(_CLOSE_VERSIONS)
        await conn.execute(_VERSIONS)
        await conn.execute(_CHANGES, self.actor, _REASON, _LOADED)
        if self.emit_events:
            changed = await conn.fetch(_CHANGED_EVENTS)
            for type, group in groupby(changed, key=itemgetter(0)):
                await self._write_events(conn, type, [(e[1], e[2]) for e in group])
        await conn.execute(_MY_NUMBERS)
        updated = await conn.fetchval("SELECT count(*) FROM atena_changed")
        self.report.updated += updated
        self.report.unchanged += len(rows) - updated


class _NewPerson(NamedTuple):  # a tuple: built a million times in a load
    line: int
    person: tuple[Any, ...]
    effective_date: date
    my_number: tuple[Any, ...] | None


@dataclass
class _Prepared:
    staging: list[tuple[Any, ...]] = field(default_factory=list)
    new: list[_NewPerson] = field(default_factory=list)
    numbers: dict[bytes, tuple[int, str]] = field(default_factory=dict)  # blind: line, person
