"""Retiring audit records past their retention period, the chain still verifiable.

The audit log is append-only and hash-chained, so records kept for a fixed period (the
intermediate server's provision records: 7 years) cannot simply be deleted. They are retired
from the oldest, in chain order, and only while each is older than the retention period: the
first younger record stops the run, so nothing younger is ever removed. Each batch, in one
transaction:

1. `audit_retire(retention, max_records)`, a SECURITY DEFINER function owned by the
   database owner (the runtime role has no DELETE on the log and cannot write checkpoints):
   it refuses a retention shorter than the floor the migration set (`audit_retention`),
   takes the sealer's lock, checks the links of the records it retires, writes a checkpoint
   (`audit_checkpoint`: the last retired record's position, hash and time, how many, the
   cutoff) and deletes the records up to it; the append-only trigger lets a DELETE through
   only at or below the latest checkpoint.
2. The retirement is itself an audit record (`audit.retire`), chained like any other.
3. Before the commit, an anchor carrying the new start (`ChainAnchor.start_pos`,
   `start_hash`) is published: whoever rewrites the table cannot forge it. `verify_chain`
   starts from the table's latest checkpoint and refuses one the anchors never named.

The records are verified end to end before any is retired, so a retirement never hides an
edit. A database opts in with `mch_common.migrations.add_audit_retention`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mch_common.audit import chain_head, read_whole_log, refuse_change_function, verify_chain
from mch_common.audit_anchor import AuditAnchors
from mch_common.db import unit_of_work
from mch_common.work import UnitOfWork

RETIRE_ACTION = "audit.retire"


def retention_ddl(min_years: int) -> list[str]:
    """The checkpoint table, the retention floor (`min_years`), the retiring function and the
    trigger function that lets it delete."""
    return [
        """
        CREATE TABLE audit_checkpoint (
            chain_pos bigint PRIMARY KEY,
            hash varchar(64) NOT NULL,
            occurred_at timestamptz NOT NULL,
            retired integer NOT NULL CHECK (retired > 0),
            cutoff timestamptz NOT NULL,
            retired_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE audit_retention (
            only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
            min_age interval NOT NULL CHECK (min_age > interval '0')
        )
        """,
        f"INSERT INTO audit_retention (min_age) VALUES (make_interval(years => {int(min_years)}))",  # noqa: S608 - an int
        refuse_change_function(retired_below_checkpoint=True),
        _RETIRE_FUNCTION,
    ]


_RETIRE_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_retire(retention interval, max_records integer)
RETURNS TABLE (retired integer, through_pos bigint, through_hash varchar,
               through_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    floor_age interval := (SELECT r.min_age FROM audit_retention r);
    cutoff timestamptz := now() - retention;
    start_pos bigint;
    prev varchar;
    rec record;
    n integer := 0;
BEGIN
    IF retention IS NULL OR floor_age IS NULL OR retention < floor_age THEN
        RAISE EXCEPTION 'audit records are kept at least %', floor_age
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF max_records IS NULL OR max_records < 1 THEN
        RAISE EXCEPTION 'max_records must be positive' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(7340017);  -- the sealer's: the head does not move meanwhile
    PERFORM set_config('mch.audit_all', 'on', true);
    SELECT c.chain_pos, c.hash INTO start_pos, prev
        FROM audit_checkpoint c ORDER BY c.chain_pos DESC LIMIT 1;
    start_pos := coalesce(start_pos, 0);
    prev := coalesce(prev, repeat('0', 64));
    FOR rec IN SELECT a.chain_pos, a.prev_hash, a.hash, a.occurred_at FROM audit_log a
               WHERE a.chain_pos > start_pos ORDER BY a.chain_pos LIMIT max_records LOOP
        EXIT WHEN rec.occurred_at >= cutoff;
        IF rec.chain_pos <> start_pos + n + 1 OR rec.prev_hash <> prev THEN
            RAISE EXCEPTION 'the audit chain is broken at position %: nothing retired',
                start_pos + n + 1 USING ERRCODE = 'data_corrupted';
        END IF;
        n := n + 1;
        prev := rec.hash;
        through_pos := rec.chain_pos;
        through_at := rec.occurred_at;
    END LOOP;
    IF n = 0 THEN
        RETURN;
    END IF;
    INSERT INTO audit_checkpoint (chain_pos, hash, occurred_at, retired, cutoff)
        VALUES (through_pos, prev, through_at, n, cutoff);
    DELETE FROM audit_log a WHERE a.chain_pos > start_pos AND a.chain_pos <= through_pos;
    retired := n;
    through_hash := prev;
    RETURN NEXT;
END;
$$
"""

_RETIRE = text(
    "SELECT retired, through_pos, through_hash, through_at "
    "FROM audit_retire(make_interval(years => :years), :max_records)"
)


@dataclass(frozen=True)
class Retired:
    """One batch: `records` retired, the last at `through_pos` with `through_hash`."""

    records: int
    through_pos: int
    through_hash: str
    through_at: datetime


@dataclass(frozen=True)
class Retirement:
    """A whole run: how many records, in how many batches, through which position; or why
    nothing was retired (`refused`: the chain does not verify)."""

    records: int
    batches: int
    through_pos: int | None
    refused: str | None = None


async def retire_batch(
    session: AsyncSession, *, retention_years: int, max_records: int
) -> Retired | None:
    """Retire up to `max_records` of the oldest records older than `retention_years`, in the
    session's transaction; None when none is."""
    row = (
        await session.execute(_RETIRE, {"years": retention_years, "max_records": max_records})
    ).first()
    if row is None:
        return None
    return Retired(row.retired, row.through_pos, row.through_hash, row.through_at)


async def retire_past_retention(
    sessions: async_sessionmaker[AsyncSession],
    anchors: AuditAnchors | None,
    *,
    retention_years: int,
    actor: str,
    batch_size: int = 5000,
    progress: Callable[[Retired, int], None] | None = None,
) -> Retirement:
    """Verify the chain against its latest anchor, then retire batch after batch until no
    record is past retention. `progress` gets each batch and the running total."""
    async with sessions() as session:
        anchor = await anchors.latest() if anchors is not None else None
        verified = await verify_chain(session, anchor=anchor)
    if not verified.ok:
        return Retirement(0, 0, None, refused=f"the chain does not verify: {verified.reason}")
    total = batches = 0
    through: int | None = None
    while True:
        async with unit_of_work(sessions) as session:
            retired = await retire_batch(
                session, retention_years=retention_years, max_records=batch_size
            )
            if retired is None:
                break
            UnitOfWork.of(session).record(
                actor=actor,
                action=RETIRE_ACTION,
                target_type="audit_log",
                target_id=str(retired.through_pos),
                purpose=f"retention of {retention_years} years",
                detail={
                    "retired": retired.records,
                    "through_pos": retired.through_pos,
                    "through_hash": retired.through_hash,
                    "through_at": retired.through_at.isoformat(),
                },
            )
            if anchors is not None:  # before the commit: a table start no anchor names fails
                await read_whole_log(session)
                head = await chain_head(session) or (retired.through_pos, retired.through_hash)
                await anchors.publish(
                    chain_pos=head[0],
                    hash=head[1],
                    start=(retired.through_pos, retired.through_hash),
                )
        total += retired.records
        batches += 1
        through = retired.through_pos
        if progress is not None:
            progress(retired, total)
    return Retirement(total, batches, through)
