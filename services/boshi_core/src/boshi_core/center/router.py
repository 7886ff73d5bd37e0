from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import status

from boshi_core.center import service
from boshi_core.center.schemas import (
    CaseIn,
    CaseOut,
    ConsultationIn,
    ConsultationOut,
    MemberOut,
    OverdueList,
    OverdueReview,
    PlanIn,
    PlanOut,
    ReviewIn,
)
from mch_common.auth.deps import require_scope
from mch_common.auth.principal import Principal
from mch_common.openapi import problem_responses
from mch_common.routes import ServiceRouter
from mch_common.web import Session

CenterReader = Annotated[Principal, require_scope("boshi:center:read")]
CenterWriter = Annotated[Principal, require_scope("boshi:center:write")]


def case_out(file: service.CaseFile) -> CaseOut:
    case = file.case
    return CaseOut(
        id=case.id,
        household_key=case.household_key,
        ward_code=case.ward_code,
        status=case.status,
        opened_on=case.opened_on,
        closed_on=case.closed_on,
        reason=case.reason,
        members=[MemberOut.model_validate(m) for m in file.members],
        consultations=[ConsultationOut.model_validate(c) for c in file.consultations],
        plans=[PlanOut.model_validate(p) for p in file.plans],
    )


router = ServiceRouter(prefix="/center", tags=["child and family center"])


@router.post(
    "/cases",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404),  # a member unknown or out of reach
    summary="Open a family's case (子ども家庭センターの相談ケース)",
)
async def open_case(body: CaseIn, session: Session, principal: CenterWriter) -> CaseOut:
    return case_out(await service.open_case(session, principal=principal, case=body))


@router.get(
    "/cases/{case_id}", summary="A case with its consultations and plans (ケース記録; logged)"
)
async def view_case(case_id: UUID, session: Session, principal: CenterReader) -> CaseOut:
    return case_out(await service.view_case(session, principal=principal, case_id=case_id))


@router.post(
    "/cases/{case_id}/consultations",
    status_code=status.HTTP_201_CREATED,
    summary="Record a consultation (相談記録)",
)
async def add_consultation(
    case_id: UUID, body: ConsultationIn, session: Session, principal: CenterWriter
) -> ConsultationOut:
    record = await service.add_consultation(
        session, principal=principal, case_id=case_id, consultation=body
    )
    return ConsultationOut.model_validate(record)


@router.post(
    "/cases/{case_id}/plans",
    status_code=status.HTTP_201_CREATED,
    summary="A new support plan version (サポートプラン); the previous one is superseded",
)
async def add_plan(
    case_id: UUID, body: PlanIn, session: Session, principal: CenterWriter
) -> PlanOut:
    return PlanOut.model_validate(
        await service.add_plan(session, principal=principal, case_id=case_id, plan=body)
    )


@router.post(
    "/plans/{plan_id}/reviews",
    summary="Review a support plan, continue or end (サポートプランの評価)",
)
async def review_plan(
    plan_id: UUID, body: ReviewIn, session: Session, principal: CenterWriter
) -> PlanOut:
    return PlanOut.model_validate(
        await service.review_plan(session, principal=principal, plan_id=plan_id, review=body)
    )


@router.get("/overdue-reviews", summary="Active plans whose review date has passed (評価期限超過)")
async def overdue_reviews(
    session: Session, principal: CenterReader, on: date | None = None
) -> OverdueList:
    overdue = await service.overdue_reviews(session, principal=principal, on=on)
    items = [
        OverdueReview(
            plan_id=plan.id,
            case_id=plan.case_id,
            ward_code=ward,
            review_on=plan.review_on,
            days_overdue=(overdue.on - plan.review_on).days,
            version=plan.version,
        )
        for plan, ward in overdue.plans
    ]
    return OverdueList(on=overdue.on, count=len(items), items=items)
