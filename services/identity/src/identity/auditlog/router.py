"""Reading identity's audit log: logins, logouts, failures and every administrative action."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from identity.deps import Auditor
from mch_common.audit import AuditRecord, verify_chain
from mch_common.web import Session

router = APIRouter(prefix="/admin/audit", tags=["audit"])


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    occurred_at: datetime
    actor: str
    terminal: str | None
    action: str
    target_type: str | None
    target_id: str | None
    purpose: str | None
    outcome: str
    detail: dict[str, Any]
    correlation_id: str | None


class ChainOut(BaseModel):
    ok: bool
    checked: int
    first_broken_seq: int | None
    reason: str | None


@router.get("", response_model=list[AuditOut])
async def read(
    session: Session,
    actor: Auditor,
    after_seq: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # seq is a bigint
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: str | None = None,
    target_id: str | None = None,
) -> list[AuditOut]:
    stmt = select(AuditRecord).where(AuditRecord.seq > after_seq)
    if action:
        stmt = stmt.where(AuditRecord.action == action)
    if target_id:
        stmt = stmt.where(AuditRecord.target_id == target_id)
    rows = (await session.execute(stmt.order_by(AuditRecord.seq).limit(limit))).scalars().all()
    return [AuditOut.model_validate(r) for r in rows]


@router.get("/verify", response_model=ChainOut, summary="Check the hash chain end to end")
async def verify(session: Session, actor: Auditor) -> ChainOut:
    result = await verify_chain(session)
    return ChainOut(
        ok=result.ok,
        checked=result.checked,
        first_broken_seq=result.first_broken_seq,
        reason=result.reason,
    )
