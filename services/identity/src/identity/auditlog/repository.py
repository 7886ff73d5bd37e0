"""Queries on identity's audit log (the table is mch_common's)."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mch_common.audit import AuditRecord


async def records(
    session: AsyncSession, *, after_seq: int, limit: int, action: str | None, target_id: str | None
) -> Sequence[AuditRecord]:
    stmt = select(AuditRecord).where(AuditRecord.seq > after_seq)
    if action:
        stmt = stmt.where(AuditRecord.action == action)
    if target_id:
        stmt = stmt.where(AuditRecord.target_id == target_id)
    return (await session.execute(stmt.order_by(AuditRecord.seq).limit(limit))).scalars().all()
