from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import Path, Query

from boshi_core.deps import VisitReader, VisitWriter
from boshi_core.visits import service
from boshi_core.visits.schemas import (
    AssignIn,
    VisitKind,
    VisitOut,
    VisitPageOut,
    VisitResultIn,
)
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/visits", tags=["visits"])
# A person's and a child's visits, for the staff screens of a mother and of a child.
records_router = ServiceRouter(tags=["visits"])
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=100, description="the previous page's next_cursor")]


@router.get(
    "/overdue", summary="Open home visits past their due date, oldest first, paged (家庭訪問)"
)
async def overdue(
    session: Session,
    principal: VisitReader,
    as_of: date | None = None,
    kind: VisitKind | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> VisitPageOut:
    page = await service.overdue(
        session, principal=principal, as_of=as_of, kind=kind, limit=limit, cursor=cursor
    )
    return VisitPageOut(
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


@records_router.get(
    "/people/{person_no}/visits",
    summary="A person's home visits, as mother or as the child visited (家庭訪問の記録; logged)",
    description=(
        "Every home visit about the person: those of her children (`mother_person_no`) and, "
        "for a child, the child's own, whatever their status (`open`, `completed`, "
        "`not_applicable` with its reason), by due date then id, paged by `cursor` = the "
        "previous page's `next_cursor`. Ward staff see their ward's residents; another ward's "
        "resident answers 404 like an unknown person. Each page is an access record naming "
        "everyone it shows."
    ),
)
async def visits_of_person(
    person_no: Annotated[str, Path(pattern=r"^\d{10}$")],
    session: Session,
    principal: VisitReader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> VisitPageOut:
    page = await service.of_person(
        session, principal=principal, person_no=person_no, limit=limit, cursor=cursor
    )
    return VisitPageOut(
        items=[VisitOut.model_validate(v) for v in page.items], next_cursor=page.next_cursor
    )


@records_router.get(
    "/children/{child_id}/visits",
    summary="A child's home visits, also before the child has a person number (logged)",
    description=(
        "The newborn, infant household and premature infant visits of one birth record, by "
        "due date then id, paged by `cursor`."
    ),
)
async def visits_of_child(
    child_id: UUID,
    session: Session,
    principal: VisitReader,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> VisitPageOut:
    page = await service.of_child(
        session, principal=principal, child_id=child_id, limit=limit, cursor=cursor
    )
    return VisitPageOut(
        items=[VisitOut.model_validate(v) for v in page.items], next_cursor=page.next_cursor
    )
