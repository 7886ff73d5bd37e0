"""Reading identity's audit log (its chain check is mch_common.audit.verify_chain)."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from identity.auditlog import repository
from mch_common.audit import AuditRecord


async def read_records(
    session: AsyncSession, *, after_seq: int, limit: int, action: str | None, target_id: str | None
) -> Sequence[AuditRecord]:
    """At most `limit` records after `after_seq`, oldest first (a page of the log)."""
    return await repository.records(
        session, after_seq=after_seq, limit=limit, action=action, target_id=target_id
    )
