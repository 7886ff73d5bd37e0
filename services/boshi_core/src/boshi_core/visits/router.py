from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from boshi_core.deps import VisitReader, VisitWriter
from boshi_core.visits import service
from boshi_core.visits.schemas import AssignIn, OverduePageOut, VisitKind, VisitOut, VisitResultIn
from mch_common.web import Session

router = APIRouter(prefix="/visits", tags=["visits"])


@router.get(
    "/overdue", summary="Open home visits past their due date, oldest first, paged (家庭訪問)"
)
async def overdue(
    session: Session,
    principal: VisitReader,
    as_of: date | None = None,
    kind: VisitKind | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> OverduePageOut:
    page = await service.overdue(
        session, principal=principal, as_of=as_of, kind=kind, limit=limit, cursor=cursor
    )
    return OverduePageOut(
        items=[VisitOut.model_validate(v) for v in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/{visit_id}/assignment", summary="Assign the home visit to a staff member (訪問担当者)"
)
async def assign(
    visit_id: UUID, body: AssignIn, session: Session, principal: VisitWriter
) -> VisitOut:
    visit = await service.assign(
        session, principal=principal, visit_id=visit_id, staff_id=body.staff_id
    )
    return VisitOut.model_validate(visit)


@router.post(
    "/{visit_id}/result",
    summary="Record the home visit's result and complete it (訪問結果)",
    description=(
        "Completes an open visit and records whether it was within its window. A visit nobody "
        "was assigned is assigned, in the same change, to the staff member completing it (the "
        "token's subject): `assigned_to` and `assigned_at` of the answer say so. A visit "
        "already assigned keeps its assignee. A completed or not applicable visit answers 409."
    ),
)
async def complete(
    visit_id: UUID, body: VisitResultIn, session: Session, principal: VisitWriter
) -> VisitOut:
    visit = await service.complete(
        session,
        principal=principal,
        visit_id=visit_id,
        visited_on=body.visited_on,
        result=body.model_dump(exclude={"visited_on"}, exclude_none=True),
    )
    return VisitOut.model_validate(visit)
