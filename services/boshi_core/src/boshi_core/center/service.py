"""The child and family center (子ども家庭センター): a case per family, consultations, and
support plans (サポートプラン) with review dates. Only center staff hold boshi:center:* scopes;
ward staff see their ward's cases; every view and change is logged."""

from datetime import date
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.center.models import (
    CenterCase,
    CenterCaseMember,
    CenterConsultation,
    SupportPlan,
    SupportPlanReview,
)
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
from boshi_core.people.service import person_in_scope
from mch_common.auth.deps import ensure_ward_access
from mch_common.auth.principal import Principal
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict, InvalidInput, NotFound
from mch_common.work import UnitOfWork

PURPOSE = "児童福祉法第10条の2 (child and family center)"


async def _audit(
    session: AsyncSession, principal: Principal, action: str, case: CenterCase, **detail: object
) -> None:
    UnitOfWork.of(session).record_access(
        principal,
        action=action,
        target_type="center_case",
        target_id=str(case.id),
        purpose=PURPOSE,
        detail={"household_key": case.household_key, **detail},
    )


async def open_case(session: AsyncSession, *, principal: Principal, case: CaseIn) -> CaseOut:
    if case.opened_on > today_tokyo():
        raise InvalidInput("opened_on is in the future")
    if len({m.person_no for m in case.members}) != len(case.members):
        raise InvalidInput("a person is listed twice among the members")
    people = [await person_in_scope(session, principal, m.person_no) for m in case.members]
    first = people[0]
    household_key = first.household_no or f"P{first.person_no}"
    open_already = (
        await session.execute(
            select(CenterCase.id).where(
                CenterCase.household_key == household_key, CenterCase.status == "open"
            )
        )
    ).scalar_one_or_none()
    if open_already is not None:
        raise Conflict(f"the family already has an open case {open_already}")
    record = CenterCase(
        household_key=household_key,
        ward_code=first.ward_code,
        status="open",
        opened_on=case.opened_on,
        reason=case.reason,
        opened_by=principal.sub,
    )
    session.add(record)
    await session.flush()
    session.add_all(
        CenterCaseMember(case_id=record.id, person_no=m.person_no, relationship=m.relationship)
        for m in case.members
    )
    await session.flush()
    await _audit(
        session,
        principal,
        "center.case.open",
        record,
        person_nos=[m.person_no for m in case.members],
    )
    return await _case_out(session, record)


async def _case(
    session: AsyncSession, principal: Principal, case_id: UUID, *, for_update: bool = False
) -> CenterCase:
    stmt = select(CenterCase).where(CenterCase.id == case_id)
    if for_update:
        stmt = stmt.with_for_update()
    case = (await session.execute(stmt)).scalar_one_or_none()
    if case is None:
        raise NotFound(f"center case {case_id} does not exist")
    ensure_ward_access(principal, case.ward_code or "")
    return case


async def _case_out(session: AsyncSession, case: CenterCase) -> CaseOut:
    members = (
        await session.execute(
            select(CenterCaseMember)
            .where(CenterCaseMember.case_id == case.id)
            .order_by(CenterCaseMember.person_no)
        )
    ).scalars()
    consultations = (
        await session.execute(
            select(CenterConsultation)
            .where(CenterConsultation.case_id == case.id)
            .order_by(CenterConsultation.consulted_on, CenterConsultation.recorded_at)
        )
    ).scalars()
    plans = (
        await session.execute(
            select(SupportPlan).where(SupportPlan.case_id == case.id).order_by(SupportPlan.version)
        )
    ).scalars()
    return CaseOut(
        id=case.id,
        household_key=case.household_key,
        ward_code=case.ward_code,
        status=case.status,
        opened_on=case.opened_on,
        closed_on=case.closed_on,
        reason=case.reason,
        members=[MemberOut.model_validate(m) for m in members],
        consultations=[ConsultationOut.model_validate(c) for c in consultations],
        plans=[PlanOut.model_validate(p) for p in plans],
    )


async def view_case(session: AsyncSession, *, principal: Principal, case_id: UUID) -> CaseOut:
    case = await _case(session, principal, case_id)
    await _audit(session, principal, "center.case.view", case)
    return await _case_out(session, case)


async def add_consultation(
    session: AsyncSession, *, principal: Principal, case_id: UUID, consultation: ConsultationIn
) -> CenterConsultation:
    case = await _case(session, principal, case_id)
    if case.status != "open":
        raise Conflict(f"center case {case_id} is closed")
    if consultation.consulted_on > today_tokyo():
        raise InvalidInput("consulted_on is in the future")
    record = CenterConsultation(
        case_id=case.id,
        consulted_on=consultation.consulted_on,
        channel=consultation.channel,
        summary=consultation.summary,
        recorded_by=principal.sub,
    )
    session.add(record)
    await session.flush()
    await session.refresh(record)
    await _audit(session, principal, "center.consultation.add", case, consultation=str(record.id))
    return record


async def add_plan(
    session: AsyncSession, *, principal: Principal, case_id: UUID, plan: PlanIn
) -> SupportPlan:
    """A new plan version; the active one before it is superseded."""
    case = await _case(session, principal, case_id, for_update=True)
    if case.status != "open":
        raise Conflict(f"center case {case_id} is closed")
    version = (
        await session.execute(
            select(func.coalesce(func.max(SupportPlan.version), 0)).where(
                SupportPlan.case_id == case.id
            )
        )
    ).scalar_one()
    await session.execute(
        update(SupportPlan)
        .where(SupportPlan.case_id == case.id, SupportPlan.status == "active")
        .values(status="superseded")
    )
    record = SupportPlan(
        case_id=case.id,
        version=int(version) + 1,
        status="active",
        starts_on=plan.starts_on,
        review_on=plan.review_on,
        goals=plan.goals,
        supports=plan.supports,
        created_by=principal.sub,
    )
    session.add(record)
    await session.flush()
    await _audit(session, principal, "center.plan.add", case, plan=str(record.id))
    return record


async def review_plan(
    session: AsyncSession, *, principal: Principal, plan_id: UUID, review: ReviewIn
) -> SupportPlan:
    plan = (
        await session.execute(
            select(SupportPlan).where(SupportPlan.id == plan_id).with_for_update()
        )
    ).scalar_one_or_none()
    if plan is None:
        raise NotFound(f"support plan {plan_id} does not exist")
    case = await _case(session, principal, plan.case_id)
    if plan.status != "active":
        raise Conflict(f"support plan {plan_id} is {plan.status}")
    if review.reviewed_on > today_tokyo():
        raise InvalidInput("reviewed_on is in the future")
    session.add(
        SupportPlanReview(
            plan_id=plan.id,
            reviewed_on=review.reviewed_on,
            outcome=review.outcome,
            note=review.note,
            next_review_on=review.next_review_on,
            reviewed_by=principal.sub,
        )
    )
    plan.last_reviewed_on = review.reviewed_on
    if review.outcome == "end":
        plan.status = "ended"
    else:
        assert review.next_review_on is not None
        plan.review_on = review.next_review_on
    await session.flush()
    await _audit(
        session, principal, "center.plan.review", case, plan=str(plan.id), outcome=review.outcome
    )
    return plan


async def overdue_reviews(
    session: AsyncSession, *, principal: Principal, on: date | None = None
) -> OverdueList:
    """Active plans of open cases whose review date has passed (ward staff: their ward)."""
    on = on or today_tokyo()
    stmt = (
        select(SupportPlan, CenterCase.ward_code)
        .join(CenterCase, CenterCase.id == SupportPlan.case_id)
        .where(
            SupportPlan.status == "active",
            CenterCase.status == "open",
            SupportPlan.review_on < on,
        )
        .order_by(SupportPlan.review_on, SupportPlan.id)
    )
    if principal.ward is not None:
        stmt = stmt.where(CenterCase.ward_code == principal.ward)
    items = [
        OverdueReview(
            plan_id=plan.id,
            case_id=plan.case_id,
            ward_code=ward,
            review_on=plan.review_on,
            days_overdue=(on - plan.review_on).days,
            version=plan.version,
        )
        for plan, ward in (await session.execute(stmt))
    ]
    UnitOfWork.of(session).record_access(
        principal,
        action="center.overdue_reviews.view",
        target_type="center_case",
        purpose=PURPOSE,
        detail={"on": on.isoformat(), "cases": sorted({str(i.case_id) for i in items})},
    )
    return OverdueList(on=on, count=len(items), items=items)
