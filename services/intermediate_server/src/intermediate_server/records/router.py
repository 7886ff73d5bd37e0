"""The person-facing view of provision records (what マイナポータル shows)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from intermediate_server.codes.schemas import PersonNo
from intermediate_server.deps import RecordsReader, TenantSession
from intermediate_server.records import service

router = APIRouter(tags=["records"])


class ProvisionRecordOut(BaseModel):
    seq: int
    occurred_at: datetime
    outcome: str
    side: str
    requester: str
    provider: str
    clause: str
    items: list[str]
    asked_at: str
    answered_at: str | None
    provided: list[str]
    held: list[str]
    not_held: list[str]
    refused_reason: str | None


class ProvisionRecordsOut(BaseModel):
    items: list[ProvisionRecordOut]
    next_before: int | None


@router.get(
    "/records/persons/{person_no}",
    summary="Provision records about one person (情報提供等記録), newest first",
)
async def records_about_person(
    person_no: PersonNo,
    session: TenantSession,
    principal: RecordsReader,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> ProvisionRecordsOut:
    records = await service.person_view(
        session, principal=principal, person_no=person_no, limit=limit, before=before
    )
    items: list[dict[str, Any]] = [service.record_view(r) for r in records]
    return ProvisionRecordsOut(
        items=[ProvisionRecordOut.model_validate(i) for i in items],
        next_before=records[-1].seq if len(records) == limit else None,
    )
