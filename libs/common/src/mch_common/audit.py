"""The audit and access log: append-only, hash-chained, and verifiable record by record.

Writers only INSERT, concurrently and without locks, so the log never serialises the work it
records. A sealer (one per database at a time, under an advisory lock; every service runs one)
then links committed records into the chain in the order it finds them: it assigns
`chain_pos`, `prev_hash` and `hash`, once. The database refuses every other UPDATE, every
DELETE and TRUNCATE. Altering, deleting or inserting a sealed record breaks the chain at that
point, and `verify_chain` names it. The sealer also publishes the chain head
(`mch_common.audit_anchor`), so that deleting the newest records, or re-hashing the chain after
an edit, shows against the latest anchor.
"""

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Identity,
    Index,
    String,
    Text,
    and_,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.audit_anchor import GENESIS_HASH, AuditAnchors, ChainAnchor
from mch_common.db import Base, on_driver

log = logging.getLogger("mch.audit")

__all__ = ["GENESIS_HASH", "AuditRecord", "AuditSealer", "verify_chain"]

# One sealer at a time per database; writers never take it. Anchoring and retiring records
# (mch_common.audit_retention) wait for it, so a published anchor always names the start of
# the chain the table has.
CHAIN_LOCK = text("SELECT pg_advisory_xact_lock(7340017)")
# A platform that walls its audit log off by row-level security (the intermediate server)
# lets a transaction with this setting on see and chain every record: the sealer, the
# verifier and the retention job set it; elsewhere it changes nothing.
WHOLE_LOG_SETTING = "mch.audit_all"
_READ_WHOLE_LOG = text(f"SELECT set_config('{WHOLE_LOG_SETTING}', 'on', true)")
_HAS_CHECKPOINTS = text("SELECT to_regclass('audit_checkpoint') IS NOT NULL")
_LATEST_CHECKPOINT = text(
    "SELECT chain_pos, hash FROM audit_checkpoint ORDER BY chain_pos DESC LIMIT 1"
)


class AuditRecord(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    terminal: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(100), index=True)
    purpose: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB)
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    # Every person the access showed or tried (a list's rows, a search's hits, the target):
    # "every access to person X" is one GIN-indexed `persons @> ARRAY[X]`.
    persons: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    # Set once by the sealer.
    chain_pos: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64), unique=True)

    __table_args__ = (
        Index("ix_audit_log_unsealed", "seq", postgresql_where=text("hash IS NULL")),
        Index("ix_audit_log_persons", "persons", postgresql_using="gin"),
    )


def refuse_change_function(*, retired_below_checkpoint: bool = False) -> str:
    """The append-only trigger's function. With `retired_below_checkpoint` (a database with
    mch_common.audit_retention), a DELETE of sealed records up to the latest retention
    checkpoint is the one other change let through: `audit_retire` writes the checkpoint
    first, in the same transaction."""
    retired = (
        """
        IF TG_OP = 'DELETE' AND OLD.chain_pos IS NOT NULL
           AND OLD.chain_pos <= (SELECT coalesce(max(c.chain_pos), 0) FROM audit_checkpoint c)
        THEN
            RETURN OLD;
        END IF;"""
        if retired_below_checkpoint
        else ""
    )
    return f"""
    CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger AS $$
    BEGIN
        -- The one permitted update: sealing an unsealed record, changing nothing else.
        IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND NEW.hash IS NOT NULL
           AND NEW.chain_pos IS NOT NULL AND NEW.prev_hash IS NOT NULL
           AND (NEW.seq, NEW.occurred_at, NEW.actor, NEW.terminal, NEW.action, NEW.target_type,
                NEW.target_id, NEW.purpose, NEW.outcome, NEW.detail, NEW.correlation_id,
                NEW.persons)
               IS NOT DISTINCT FROM
               (OLD.seq, OLD.occurred_at, OLD.actor, OLD.terminal, OLD.action, OLD.target_type,
                OLD.target_id, OLD.purpose, OLD.outcome, OLD.detail, OLD.correlation_id,
                OLD.persons)
        THEN
            RETURN NEW;
        END IF;{retired}
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql
    """


_REFUSE_CHANGE_FUNCTION = refuse_change_function()

AUDIT_APPEND_ONLY_DDL = (
    _REFUSE_CHANGE_FUNCTION,
    """
    CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()
    """,
    """
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
    """,
)

_HASHED_FIELDS = (
    "chain_pos",
    "seq",
    "occurred_at",
    "actor",
    "terminal",
    "action",
    "target_type",
    "target_id",
    "purpose",
    "outcome",
    "detail",
    "correlation_id",
    "persons",
)

# The audit log's `persons` column, for a database made before it (each service's migration
# runs these); records written before it have none, and so hash as they did.
AUDIT_PERSONS_DDL = (
    "ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS persons text[] NOT NULL DEFAULT '{}'",
    "CREATE INDEX IF NOT EXISTS ix_audit_log_persons ON audit_log USING gin (persons)",
    _REFUSE_CHANGE_FUNCTION,
)


def _isoformat(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"an audit record holds no {type(value).__name__}")


# One encoder for every record, its datetimes through `default`: 11.2-11.5 -> 9.5-10.3 µs a
# record against `json.dumps` with each field tested for a datetime (measured in a loop;
# every request leaves a record).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_isoformat
).encode


def record_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The record's hash; `persons` counts only when it names someone, so that records written
    before the column existed keep their hash."""
    hashed = {k: fields[k] for k in _HASHED_FIELDS if k != "persons" or fields.get(k)}
    return hashlib.sha256((prev_hash + _CANONICAL(hashed)).encode()).hexdigest()


# The sealer's round reads and seals on the asyncpg connection (mch_common.db.on_driver):
# SQLAlchemy's rows cost a third of the sealer's CPU, about 10 µs a record (every request
# leaves one). Every record of a round in one statement (the trigger still checks each row).
_SEAL = (
    "UPDATE audit_log AS a SET chain_pos = s.chain_pos, prev_hash = s.prev_hash, hash = s.hash"
    " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])"
    " AS s(seq, chain_pos, prev_hash, hash) WHERE a.seq = s.seq AND a.hash IS NULL"
)
# The sealer's lock and the whole log in view (`read_whole_log`), in one round trip.
_SEALER_LOCK_WHOLE_LOG = text(
    f"SELECT pg_try_advisory_xact_lock(7340017), set_config('{WHOLE_LOG_SETTING}', 'on', true)"
)
# The JSONB `detail` comes decoded (the codec SQLAlchemy's dialect sets on each connection).
_UNSEALED = (
    "SELECT seq, occurred_at, actor, terminal, action, target_type, target_id, purpose,"
    " outcome, detail, correlation_id, persons FROM audit_log WHERE hash IS NULL"
    " ORDER BY seq LIMIT $1"
)


_CHAIN_HEAD = (
    select(AuditRecord.chain_pos, AuditRecord.hash)
    .where(AuditRecord.chain_pos.is_not(None))
    .order_by(AuditRecord.chain_pos.desc())
    .limit(1)
)


async def chain_head(session: AsyncSession | AsyncConnection) -> tuple[int, str] | None:
    """(chain position, hash) of the newest sealed record; None while nothing is sealed."""
    head = (await session.execute(_CHAIN_HEAD)).first()
    if head is None or head.chain_pos is None or head.hash is None:
        return None
    return head.chain_pos, head.hash


async def read_whole_log(session: AsyncSession | AsyncConnection) -> None:
    """Let the rest of the transaction see every record, past a tenant wall (see
    `WHOLE_LOG_SETTING`)."""
    await session.execute(_READ_WHOLE_LOG)


async def chain_start(session: AsyncSession | AsyncConnection) -> tuple[int, str]:
    """(chain position, hash) the remaining chain links to: the last record retired past
    retention (mch_common.audit_retention), else 0 and the genesis hash."""
    if not (await session.execute(_HAS_CHECKPOINTS)).scalar_one():
        return 0, GENESIS_HASH
    row = (await session.execute(_LATEST_CHECKPOINT)).first()
    return (int(row.chain_pos), str(row.hash)) if row is not None else (0, GENESIS_HASH)


async def seal_pending(session: AsyncSession | AsyncConnection, *, limit: int = 5000) -> int:
    """Chain up to `limit` committed, unsealed records; returns how many were sealed (0 when
    another sealer holds the lock). Call in its own transaction."""
    if not (await session.execute(_SEALER_LOCK_WHOLE_LOG)).scalar_one():
        return 0
    rows = await on_driver(session, _UNSEALED, lambda driver: driver.fetch(_UNSEALED, limit))
    if not rows:
        return 0
    # Every sealed record retired: the chain goes on from the last one retired.
    position, prev = await chain_head(session) or await chain_start(session)
    seqs, positions, prevs, hashes = [], [], [], []
    for row in rows:
        position += 1
        fields = dict(row.items())
        fields["chain_pos"] = position
        digest = record_hash(prev, fields)
        seqs.append(fields["seq"])
        positions.append(position)
        prevs.append(prev)
        hashes.append(digest)
        prev = digest
    await on_driver(
        session, _SEAL, lambda driver: driver.execute(_SEAL, seqs, positions, prevs, hashes)
    )
    return len(rows)


class AuditSealer:
    """Background task of every service: seals new audit records about every `interval` s and,
    with `anchors`, publishes the chain head every `anchor_interval` s when it moved."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        interval: float = 0.5,
        anchors: AuditAnchors | None = None,
        anchor_interval: float = 60.0,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.anchors = anchors
        self.anchor_interval = anchor_interval
        self.sealed = 0
        self._anchored: tuple[tuple[int, str], tuple[int, str]] | None = None
        self._anchored_at = -math.inf  # the first round anchors at once
        self._stopping = asyncio.Event()

    async def seal_once(self) -> int:
        async with self.engine.begin() as connection:
            count = await seal_pending(connection)
        self.sealed += count
        return count

    async def anchor(self) -> ChainAnchor | None:
        """Publish the chain head if it moved since the last anchor; returns what was sent."""
        if self.anchors is None:
            return None
        async with AsyncSession(self.engine) as session, session.begin():
            await session.execute(CHAIN_LOCK)  # not while records are being retired
            await read_whole_log(session)
            head = await chain_head(session)
            start = await chain_start(session)
            self._anchored_at = time.monotonic()
            if head is None or (head, start) == self._anchored:
                return None
            anchor = await self.anchors.publish(chain_pos=head[0], hash=head[1], start=start)
        self._anchored = (head, start)
        return anchor

    async def finish(self) -> None:
        """At shutdown, after `stop`: seal what is left and anchor the final head."""
        try:
            await self.seal_once()
            await self.anchor()
        except Exception as exc:  # noqa: BLE001 - shutdown goes on; the next start anchors
            log.warning("audit anchor at shutdown failed: %s", type(exc).__name__)

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                count = await self.seal_once()
                if time.monotonic() - self._anchored_at >= self.anchor_interval:
                    await self.anchor()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep sealing after transient failures
                log.warning("audit sealer failed, retrying: %s", type(exc).__name__)
                count = 0
            if count < 5000:
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
                except TimeoutError:
                    pass

    def stop(self) -> None:
        self._stopping.set()


@dataclass(frozen=True)
class ChainVerification:
    """`first_broken_seq` names the first bad record still in the table; `first_broken_pos`
    its chain position (for records deleted from the head, the first one missing).
    `retired_through`: the chain starts after this position (records retired past
    retention)."""

    ok: bool
    checked: int
    first_broken_seq: int | None = None
    first_broken_pos: int | None = None
    reason: str | None = None
    unsealed: int = 0
    anchor: ChainAnchor | None = None
    retired_through: int = 0


async def verify_chain(
    session: AsyncSession,
    *,
    anchor: ChainAnchor | None = None,
    chunk: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> ChainVerification:
    """Walk the sealed records in chain order from where the chain starts (after the records
    retired past retention, mch_common.audit_retention); report the first whose link or
    content does not match, then hold the chain against `anchor` (the latest published head):
    the anchored record must be there, with the anchored hash, and the chain must start where
    the anchor says or before it (a retirement published but not committed left the records).
    Records not yet sealed are counted, not judged (the sealer runs every half second).
    `progress` gets the count after each chunk."""
    await read_whole_log(session)
    unsealed = (
        await session.execute(select(func.count()).where(AuditRecord.hash.is_(None)))
    ).scalar_one()
    start_pos, start_hash = await chain_start(session)
    checked = 0

    def broken(row_seq: int | None, pos: int, reason: str) -> ChainVerification:
        return ChainVerification(
            ok=False,
            checked=checked,
            first_broken_seq=row_seq,
            first_broken_pos=pos,
            reason=reason,
            unsealed=unsealed,
            anchor=anchor,
            retired_through=start_pos,
        )

    if anchor is not None and start_pos > anchor.start_pos:
        return broken(
            None,
            anchor.start_pos + 1,
            f"records up to chain position {start_pos} were removed without a published "
            "retention checkpoint",
        )
    if anchor is not None and start_pos == anchor.start_pos and start_hash != anchor.start_hash:
        return broken(None, start_pos, "the retention checkpoint differs from its published anchor")
    prev = start_hash
    expected_pos = start_pos + 1
    after = start_pos
    while True:
        rows = (
            (
                await session.execute(
                    select(AuditRecord)
                    .where(AuditRecord.chain_pos > after)
                    .order_by(AuditRecord.chain_pos)
                    .limit(chunk)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for row in rows:
            if row.chain_pos != expected_pos or row.prev_hash != prev:
                return broken(row.seq, expected_pos, "link to the previous record is broken")
            fields = {k: getattr(row, k) for k in _HASHED_FIELDS}
            if record_hash(prev, fields) != row.hash:
                return broken(row.seq, row.chain_pos, "record content does not match its hash")
            if anchor is not None and (
                (row.chain_pos == anchor.chain_pos and row.hash != anchor.hash)
                or (row.chain_pos == anchor.start_pos and row.hash != anchor.start_hash)
            ):
                return broken(
                    row.seq,
                    row.chain_pos,
                    "record differs from its published anchor: the chain was rewritten "
                    "at or before it",
                )
            prev = row.hash
            checked += 1
            expected_pos += 1
            after = row.chain_pos
        session.expunge_all()
        if progress is not None:
            progress(checked)
    last_pos = expected_pos - 1
    if anchor is not None and last_pos < anchor.chain_pos:
        return broken(
            None,
            last_pos + 1,
            f"records from chain position {last_pos + 1} to the anchored "
            f"{anchor.chain_pos} are missing",
        )
    return ChainVerification(
        ok=True, checked=checked, unsealed=unsealed, anchor=anchor, retired_through=start_pos
    )


def about_person(person: str) -> ColumnElement[bool]:
    """The records about `person`: those naming them in `persons` (GIN index), and those from
    before the column whose target they are (index on `target_id`)."""
    return or_(
        AuditRecord.persons.contains([person]),
        and_(AuditRecord.target_type == "person", AuditRecord.target_id == person),
    )


async def accesses_to_person(
    session: AsyncSession, person: str, *, limit: int = 100, before: int | None = None
) -> list[AuditRecord]:
    """Every record about `person` (shown in a list, found by a search, the target, refused
    or not found), newest first; the next page starts `before` the last one's `seq`. One
    indexed query."""
    stmt = select(AuditRecord).where(about_person(person))
    if before is not None:
        stmt = stmt.where(AuditRecord.seq < before)
    stmt = stmt.order_by(AuditRecord.seq.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars().all())
