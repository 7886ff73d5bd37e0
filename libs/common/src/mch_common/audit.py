"""The audit and access log: append-only (the database refuses UPDATE, DELETE and TRUNCATE),
hash-chained, and verifiable record by record.

Every record's hash covers its own fields and the previous record's hash, so altering,
deleting or inserting a record breaks the chain at that point; `verify_chain` names it.
Writers take a transaction-scoped advisory lock so the chain has one order.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, String, Text, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.auth.principal import Principal
from mch_common.db import Base
from mch_common.logs import correlation_id

GENESIS_HASH = "0" * 64
_CHAIN_LOCK = text("SELECT pg_advisory_xact_lock(7340017)")


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
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


AUDIT_APPEND_ONLY_DDL = (
    """
    CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql
    """,
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
)


def record_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(
        {
            k: fields[k].isoformat() if isinstance(fields[k], datetime) else fields[k]
            for k in _HASHED_FIELDS
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


async def append_audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    outcome: str = "success",
    terminal: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record in the caller's transaction (it commits or rolls back with the work)."""
    await session.execute(_CHAIN_LOCK)
    last = (
        await session.execute(select(AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1))
    ).scalar_one_or_none()
    seq = (
        await session.execute(text("SELECT nextval(pg_get_serial_sequence('audit_log', 'seq'))"))
    ).scalar_one()
    fields: dict[str, Any] = {
        "seq": seq,
        "occurred_at": datetime.now(UTC),
        "actor": actor,
        "terminal": terminal,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "purpose": purpose,
        "outcome": outcome,
        "detail": detail or {},
        "correlation_id": correlation_id.get(),
    }
    prev = last or GENESIS_HASH
    record = AuditRecord(**fields, prev_hash=prev, hash=record_hash(prev, fields))
    session.add(record)
    await session.flush()
    return record


async def audit_principal(
    session: AsyncSession,
    principal: Principal,
    *,
    action: str,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: str | None = None,
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """The access record for a staff member's or service's operation on a person's data."""
    return await append_audit(
        session,
        actor=principal.sub,
        terminal=principal.terminal,
        action=action,
        outcome=outcome,
        target_type=target_type,
        target_id=target_id,
        purpose=purpose,
        detail={"ward": principal.ward, "roles": list(principal.roles), **(detail or {})},
    )


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str | None = None


async def verify_chain(session: AsyncSession, *, chunk: int = 5000) -> ChainVerification:
    """Walk the log in order; report the first record whose link or content does not match."""
    prev = GENESIS_HASH
    checked = 0
    after = 0
    while True:
        rows = (
            (
                await session.execute(
                    select(AuditRecord)
                    .where(AuditRecord.seq > after)
                    .order_by(AuditRecord.seq)
                    .limit(chunk)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            return ChainVerification(ok=True, checked=checked)
        for row in rows:
            if row.prev_hash != prev:
                return ChainVerification(
                    False, checked, row.seq, "link to the previous record is broken"
                )
            fields = {k: getattr(row, k) for k in _HASHED_FIELDS}
            if record_hash(prev, fields) != row.hash:
                return ChainVerification(
                    False, checked, row.seq, "record content does not match its hash"
                )
            prev = row.hash
            checked += 1
            after = row.seq
        session.expunge_all()
