"""Bulk load: CSV lines are validated in Python, numbers resolved and My Numbers encrypted per
chunk, COPY'd into a temporary staging table, then merged set-based (INSERT ... SELECT ...
ON CONFLICT) with the same history, change log and outbox rows the API writes.

Idempotent: a person is matched by person number, else by external key; an unchanged line
changes nothing (no version, no event). Each chunk commits on its own, so a re-run after a
crash picks up where it stopped.
"""

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import Any

import asyncpg

from atena.bulk.parse import LineError, LineParser, Record, open_text, read_lines
from atena.numbers import HOUSEHOLD_SERIAL_START, person_no_from_serial
from mch_common.mynumber import MyNumberVault

# Compared to decide whether a line changes the person, and copied on insert/update.
DATA_COLUMNS = (
    "external_key", "residence_status", "family_name", "given_name", "family_name_kana",
    "given_name_kana", "name_key", "kana_key", "sex", "birth_date", "death_date", "postal_code",
    "prefecture", "municipality_code", "ward_code", "town", "block", "building", "household_no",
    "relationship_to_head", "phone", "email",
)
STAGING_COLUMNS = (
    "line_no", "person_no", *DATA_COLUMNS, "mn_key_id", "mn_cipher", "mn_blind", "effective_date",
    "is_new",
)

_SETUP = """
CREATE TEMP TABLE IF NOT EXISTS atena_staging (
    line_no int, person_no text, external_key text, residence_status text, family_name text,
    given_name text, family_name_kana text, given_name_kana text, name_key text COLLATE "C",
    kana_key text COLLATE "C", sex text, birth_date date, death_date date, postal_code text,
    prefecture text, municipality_code text, ward_code text, town text, block text,
    building text, household_no text, relationship_to_head text, phone text, email text,
    mn_key_id text, mn_cipher bytea, mn_blind bytea, effective_date date, is_new bool
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

_MY_NUMBER_TAKEN = """
SELECT s.line_no FROM atena_staging s
JOIN person_my_number m ON m.blind_index = s.mn_blind AND m.person_no <> s.person_no
"""
_BEFORE = f"""
INSERT INTO atena_before (person_no, snap)
SELECT p.person_no, atena_snapshot(p) FROM atena_staging s JOIN person p USING (person_no)
WHERE NOT s.is_new AND ({_p_cols}) IS DISTINCT FROM ({_s_cols})
"""
# New people: a plain INSERT (the numbers were resolved per chunk, so no conflict is expected;
# a concurrent loader creating the same person fails the chunk, which a re-run then loads).
_INSERT_NEW = f"""
WITH up AS (
    INSERT INTO person AS p (person_no, version, delivery_addresses, {_cols})
    SELECT s.person_no, 1, '[]'::jsonb, {_s_cols} FROM atena_staging s WHERE s.is_new
    RETURNING p.person_no, atena_snapshot(p) AS snap
)
INSERT INTO atena_changed (person_no, inserted, snap, eff, verb, before, after)
SELECT up.person_no, true, up.snap, s.effective_date, 'registered', '{{}}'::jsonb,
       up.snap - 'version'
FROM up JOIN atena_staging s USING (person_no)
"""
_UPDATE_EXISTING = f"""
WITH up AS (
    UPDATE person AS p SET ({_cols}) = ({_s_cols}), version = p.version + 1, updated_at = now()
    FROM atena_staging s
    WHERE s.person_no = p.person_no AND NOT s.is_new AND ({_p_cols}) IS DISTINCT FROM ({_s_cols})
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
SELECT person_no, (snap->>'version')::int, verb, eff, $1, 'resident registry extract',
       before, after, '{"source": "bulk_load"}'::jsonb
FROM atena_changed
"""
# The envelope mch_common.events.emit_event writes, built set-based; the id is a UUIDv7.
_OUTBOX = """
INSERT INTO outbox (event_id, subject, envelope)
SELECT x.id, 'atena.person.' || x.verb, jsonb_build_object(
    'specversion', '1.0', 'id', x.id::text, 'source', '/atena',
    'type', 'atena.person.' || x.verb, 'subject', x.person_no,
    'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'datacontenttype', 'application/json', 'tenant', $1::text, 'correlationid', $2::text,
    'data', jsonb_build_object(
        'person_no', x.person_no, 'effective_date', x.eff, 'before', x.before,
        'after', x.after, 'person', x.snap
    ) || CASE x.verb
        WHEN 'moved_in' THEN '{"previous_municipality_code": null}'::jsonb
        WHEN 'moved_out' THEN '{"destination_municipality_code": null}'::jsonb
        ELSE '{}'::jsonb END
)
FROM (
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing
           substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
           FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid AS id, c.*
    FROM atena_changed c ORDER BY c.person_no
) x
"""
_MY_NUMBERS_NEW = """
INSERT INTO person_my_number (person_no, key_id, ciphertext, blind_index)
SELECT person_no, mn_key_id, mn_cipher, mn_blind FROM atena_staging
WHERE is_new AND mn_blind IS NOT NULL
"""
_MY_NUMBERS = """
INSERT INTO person_my_number (person_no, key_id, ciphertext, blind_index)
SELECT person_no, mn_key_id, mn_cipher, mn_blind FROM atena_staging
WHERE NOT is_new AND mn_blind IS NOT NULL
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
WHERE c.relname = ANY($1::text[]) AND k.contype = 'u'
"""


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
            "encoding": self.encoding, "lines": self.lines, "inserted": self.inserted,
            "updated": self.updated, "unchanged": self.unchanged, "rejected": self.rejected,
            "seconds": round(self.seconds, 2),
        }


def asyncpg_dsn(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return url


def _chunks(items: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Loader:
    def __init__(
        self,
        conn: asyncpg.Connection,
        *,
        tenant: str,
        vault: MyNumberVault,
        actor: str,
        today: date,
        emit_events: bool = True,
        correlation_id: str | None = None,
        on_error: Callable[[LineError], None] | None = None,
    ) -> None:
        self.conn = conn
        self.tenant = tenant
        self.vault = vault
        self.actor = actor
        self.emit_events = emit_events
        self.correlation_id = correlation_id
        self.parser = LineParser(tenant=tenant, today=today)
        self.report = LoadReport()
        self._on_error = on_error
        self._seen_keys: set[str] = set()
        self._seen_person_nos: set[str] = set()
        self._seen_numbers: set[int] = set()
        self._lock = threading.Lock()
        self._initial = False

    def _reject(self, error: LineError) -> None:
        with self._lock:  # the parsing thread and the event loop both report
            self.report.rejected += 1
            if len(self.report.errors) < 10_000:
                self.report.errors.append(error)
            if self._on_error is not None:
                self._on_error(error)

    def _valid(self, lines: Iterable[tuple[int, list[str]]]) -> Iterator[Record]:
        for line, row in lines:
            self.report.lines += 1
            parsed = self.parser.parse(line, row)
            if isinstance(parsed, LineError):
                self._reject(parsed)
                continue
            if parsed.external_key in self._seen_keys:
                self._reject(LineError(line, "external_key", "repeated in this file"))
                continue
            if parsed.person_no is not None and parsed.person_no in self._seen_person_nos:
                self._reject(LineError(line, "person_no", "repeated in this file"))
                continue
            self._seen_keys.add(parsed.external_key)
            if parsed.person_no is not None:
                self._seen_person_nos.add(parsed.person_no)
            yield parsed

    async def _drop_secondary_indexes(self) -> None:
        async with self.conn.transaction():
            for name, drop, create in await self.conn.fetch(_SECONDARY_DDL, REBUILT_TABLES):
                await self.conn.execute(
                    "INSERT INTO bulk_deferred_index (name, ddl) VALUES ($1, $2)", name, create
                )
                await self.conn.execute(drop)

    async def _restore_indexes(self) -> None:
        for name, ddl in await self.conn.fetch("SELECT name, ddl FROM bulk_deferred_index"):
            async with self.conn.transaction():
                await self.conn.execute(ddl)
                await self.conn.execute("DELETE FROM bulk_deferred_index WHERE name = $1", name)
        for table in REBUILT_TABLES:
            await self.conn.execute(f"ANALYZE {table}")

    async def load(
        self, path: str, *, encoding: str | None = None, chunk_size: int = 20_000,
        progress: Callable[[LoadReport], None] | None = None, rebuild_indexes: str = "auto",
    ) -> LoadReport:
        """`rebuild_indexes`: "auto" drops and rebuilds secondary indexes when the registry is
        empty (an initial load), "never" keeps them."""
        started = time.perf_counter()
        await self.conn.execute(_SETUP)
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
        self, path: str, encoding: str | None, chunk_size: int,
        progress: Callable[[LoadReport], None] | None, started: float,
    ) -> None:
        # A crash loses at most the last chunks' commits, and a re-run loads them again.
        await self.conn.execute("SET synchronous_commit = off")
        stream, self.report.encoding = open_text(path, encoding)
        with stream:
            chunks = _chunks(self._valid(read_lines(stream)), chunk_size)
            # Parsing the next chunk (a thread) overlaps the database merging this one.
            upcoming = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
            while (chunk := await upcoming) is not None:
                upcoming = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
                try:
                    async with self.conn.transaction():
                        await self._load_chunk(chunk)
                        await self.conn.execute(_RESET)
                except BaseException:
                    upcoming.cancel()
                    await asyncio.gather(upcoming, return_exceptions=True)
                    raise
                self.report.seconds = time.perf_counter() - started
                if progress is not None:
                    progress(self.report)

    async def _numbers(self, sequence: str, count: int) -> list[str]:
        if count == 0:
            return []
        rows = await self.conn.fetch(
            "SELECT nextval($1::regclass) FROM generate_series(1, $2)", sequence, count
        )
        return [person_no_from_serial(row[0]) for row in rows]

    async def _resolve(self, chunk: list[Record]) -> list[Record]:
        """Give every record its person number and household number; reject conflicts."""
        # In an initial load every key is new (repeats within the file are already rejected),
        # and the index that would answer this is being rebuilt.
        by_key = {} if self._initial else dict(await self.conn.fetch(
            "SELECT external_key, person_no FROM person WHERE external_key = ANY($1::text[])",
            [r.external_key for r in chunk],
        ))
        given = [r.person_no for r in chunk if r.person_no is not None]
        by_no: dict[str, str | None] = dict(await self.conn.fetch(
            "SELECT person_no, external_key FROM person WHERE person_no = ANY($1::text[])", given
        )) if given else {}
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
            await self.conn.execute(
                "SELECT setval('person_serial', GREATEST($1::bigint, last_value)) "
                "FROM person_serial",
                max(in_range),
            )
        fresh = [r for r in kept if r.person_no is None]
        for r, number in zip(fresh, await self._numbers("person_serial", len(fresh)), strict=True):
            r.person_no = number

        keys = sorted({r.household_key for r in kept if r.household_key})
        households = dict(await self.conn.fetch(
            "SELECT external_key, household_no FROM household WHERE external_key = ANY($1::text[])",
            keys,
        ))
        missing = [k for k in keys if k not in households]
        new_numbers = await self._numbers("household_serial", len(missing))
        if missing:
            await self.conn.copy_records_to_table(
                "household", records=list(zip(new_numbers, missing, strict=True)),
                columns=("household_no", "external_key"),
            )
            households.update(zip(missing, new_numbers, strict=True))
        for r in kept:  # from here on the field holds the household number
            r.household_key = households[r.household_key] if r.household_key else None
        return kept

    def _staging_rows(self, chunk: list[Record]) -> Iterator[tuple[Any, ...]]:
        vault = self.vault
        for r in chunk:
            assert r.person_no is not None
            key_id = cipher = blind = None
            if r.my_number is not None:
                blind = vault.blind_index(r.my_number)
                short = int.from_bytes(blind[:8], "big")
                if short in self._seen_numbers:
                    self._reject(LineError(r.line, "my_number", "repeated in this file"))
                    continue
                self._seen_numbers.add(short)
                sealed = vault.encrypt(r.my_number, aad=r.person_no.encode())
                key_id, cipher = sealed.key_id, sealed.ciphertext
            yield (
                r.line, r.person_no, r.external_key, r.residence_status, r.family_name,
                r.given_name, r.family_name_kana, r.given_name_kana, r.name_key, r.kana_key,
                r.sex, r.birth_date, r.death_date, r.postal_code, r.prefecture,
                r.municipality_code, r.ward_code, r.town, r.block, r.building, r.household_key,
                r.relationship_to_head, r.phone, r.email, key_id, cipher, blind,
                r.effective_date, r.is_new,
            )

    async def _load_chunk(self, chunk: list[Record]) -> None:
        chunk = await self._resolve(chunk)
        rows = await asyncio.to_thread(lambda: list(self._staging_rows(chunk)))
        await self.conn.copy_records_to_table(
            "atena_staging", records=rows, columns=STAGING_COLUMNS
        )
        taken = [] if self._initial else await self.conn.fetch(_MY_NUMBER_TAKEN)
        if taken:
            for row in taken:
                self._reject(LineError(row[0], "my_number", "registered to another person"))
            await self.conn.execute(
                "DELETE FROM atena_staging WHERE line_no = ANY($1::int[])", [r[0] for r in taken]
            )
        existing = sum(1 for r in chunk if not r.is_new)
        if existing:
            await self.conn.execute(_BEFORE)
        await self.conn.execute(_INSERT_NEW)
        if existing:
            await self.conn.execute(_UPDATE_EXISTING)
            await self.conn.execute(_EFFECTIVE)
            await self.conn.execute(_DIFF)
            await self.conn.execute(_CLOSE_VERSIONS)
        await self.conn.execute(_VERSIONS)
        await self.conn.execute(_CHANGES, self.actor)
        if self.emit_events:
            await self.conn.execute(_OUTBOX, self.tenant, self.correlation_id)
        await self.conn.execute(_MY_NUMBERS_NEW)
        if existing:
            await self.conn.execute(_MY_NUMBERS)
        counts = await self.conn.fetchrow(
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) "
            "FROM atena_changed"
        )
        assert counts is not None
        self.report.inserted += counts[0]
        self.report.updated += counts[1]
        self.report.unchanged += len(rows) - len(taken) - counts[0] - counts[1]
