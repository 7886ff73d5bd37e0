from datetime import date
from typing import Annotated

from fastapi import Query

from boshi_core.deps import RetentionAdmin
from boshi_core.retention import service
from boshi_core.retention.schemas import (
    DisposalIn,
    DisposalOut,
    DuePageOut,
    DueRecordOut,
    RetainedType,
)
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/retention", tags=["retention"])


@router.get(
    "/due", summary="Records past their retention period, oldest first, paged (保存期間満了)"
)
async def due(
    session: Session,
    principal: RetentionAdmin,
    record_type: RetainedType,
    as_of: date | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> DuePageOut:
    page = await service.due(
        session,
        principal=principal,
        record_type=record_type,
        as_of=as_of,
        limit=limit,
        cursor=cursor,
    )
    return DuePageOut(
        items=[DueRecordOut.model_validate(r, from_attributes=True) for r in page.items],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/disposals",
    status_code=201,
    summary="Dispose of records past their period (職権削除); the access log is kept",
)
async def dispose(
    body: DisposalIn, session: Session, principal: RetentionAdmin
) -> list[DisposalOut]:
    disposals = await service.dispose(
        session,
        principal=principal,
        record_type=body.record_type,
        record_ids=body.record_ids,
        reason=body.reason,
    )
    return [DisposalOut.model_validate(d) for d in disposals]
