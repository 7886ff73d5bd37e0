from datetime import date
from typing import Annotated

from fastapi import Query

from immunization_bridge.deps import Purpose, StatusReader
from immunization_bridge.status import service
from immunization_bridge.status.schemas import ChildStatusOut, OverduePageOut
from mch_common.dates import today_tokyo
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(tags=["status"])


@router.get("/children/{person_no}/status", summary="Each dose's status for one child")
async def child_status(
    person_no: str,
    session: Session,
    principal: StatusReader,
    purpose: Purpose,
    on: date | None = None,
) -> ChildStatusOut:
    return await service.child_status(
        session,
        principal=principal,
        person_no=person_no,
        on=on or today_tokyo(),
        purpose=purpose,
    )


@router.get(
    "/wards/{ward_code}/overdue",
    summary="The ward's overdue doses as of the last overdue check, paged",
)
async def overdue_list(
    ward_code: str,
    session: Session,
    principal: StatusReader,
    purpose: Purpose,
    month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    after: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> OverduePageOut:
    return await service.overdue_page(
        session,
        principal=principal,
        ward_code=ward_code,
        month=month,
        after=after,
        limit=limit,
        purpose=purpose,
    )
