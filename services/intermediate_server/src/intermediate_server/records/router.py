"""The person-facing view of provision records (what マイナポータル shows)."""

from typing import Annotated, Any

from fastapi import Query

from intermediate_server.codes.schemas import PersonNo
from intermediate_server.deps import RecordsReader, TenantSession
from intermediate_server.records import service
from intermediate_server.records.schemas import ProvisionRecordOut, ProvisionRecordsOut
from mch_common.routes import ServiceRouter

router = ServiceRouter(tags=["records"])


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
