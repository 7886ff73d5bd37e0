"""Reading identity's audit log: logins, logouts, failures and every administrative action."""

from typing import Annotated

from fastapi import APIRouter, Query

from identity.auditlog import service
from identity.auditlog.schemas import AuditOut, ChainOut
from identity.deps import Auditor
from mch_common.audit import verify_chain
from mch_common.web import Session

router = APIRouter(prefix="/admin/audit", tags=["audit"])


@router.get("", response_model=list[AuditOut])
async def read(
    session: Session,
    actor: Auditor,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: str | None = None,
    target_id: str | None = None,
) -> list[AuditOut]:
    rows = await service.read_records(
        session, after_seq=after_seq, limit=limit, action=action, target_id=target_id
    )
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
