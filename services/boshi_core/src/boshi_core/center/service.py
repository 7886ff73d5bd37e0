"""The child and family center (子ども家庭センター): a case per family, consultations, and
support plans (サポートプラン) with review dates. Only center staff hold boshi:center:* scopes;
ward staff see their ward's cases; every view and change is logged."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.center import repository
from boshi_core.center.models import (
    CenterCase,
    CenterCaseMember,
    CenterConsultation,
    SupportPlan,
    SupportPlanReview,
)
from boshi_core.center.schemas import CaseIn, ConsultationIn, PlanIn, ReviewIn
from boshi_core.people.service import person_in_scope
from mch_common.auth.deps import ensure_ward_access
from mch_common.auth.principal import Principal
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict, InvalidInput, NotFound
from mch_common.work import UnitOfWork

PURPOSE = "児童福祉法第10条の2 (child and family center)"


@dataclass(frozen=True)
class CaseFile:
    """A case with its members, consultations and plan versions."""

    case: CenterCase
    members: list[CenterCaseMember]
    consultations: list[CenterConsultation]
    plans: list[SupportPlan]


@dataclass(frozen=True)
class OverdueReviews:
    """The plans whose review date was before `on`, each with its case's ward."""

    on: date
    plans: list[tuple[SupportPlan, str | None]]


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    case: CenterCase,
    persons: Iterable[str] = (),
    **detail: object,
) -> None:
    UnitOfWork.of(session).record_access(
        principal,
        action=action,
        target_type="center_case",
        target_id=str(case.id),
        purpose=PURPOSE,
        detail={"household_key": case.household_key, **detail},
        persons=persons,
    )


async def open_case(session: AsyncSession, *, principal: Principal, case: CaseIn) -> CaseFile:
    if case.opened_on > today_tokyo():
        raise InvalidInput("opened_on is in the future")
    if len({m.person_no for m in case.members}) != len(case.members):
        raise InvalidInput("a person is listed twice among the members")
    people = [await person_in_scope(session, principal, m.person_no) for m in case.members]
    first = people[0]
    household_key = first.household_no or f"P{first.person_no}"
    open_already = await repository.open_case_of_household(session, household_key)
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
        persons=[m.person_no for m in case.members],
    )
    return await _case_file(session, record)


async def _case(
    session: AsyncSession, principal: Principal, case_id: UUID, *, for_update: bool = False
) -> CenterCase:
    case = await repository.get(session, case_id, for_update=for_update)
    if case is None:
        raise NotFound(f"center case {case_id} does not exist")
    ensure_ward_access(principal, case.ward_code or "")
    return case


async def _case_file(session: AsyncSession, case: CenterCase) -> CaseFile:
    return CaseFile(
        case=case,
        members=await repository.members_of(session, case.id),
        consultations=await repository.consultations_of(session, case.id),
        plans=await repository.plans_of(session, case.id),
    )


async def view_case(session: AsyncSession, *, principal: Principal, case_id: UUID) -> CaseFile:
    case = await _case(session, principal, case_id)
    file = await _case_file(session, case)
    await _audit(
        session, principal, "center.case.view", case, persons=[m.person_no for m in file.members]
    )
    return file


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
    version = await repository.last_plan_version(session, case.id)
    await repository.supersede_active_plan(session, case.id)
    record = SupportPlan(
        case_id=case.id,
        version=version + 1,
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
    plan = await repository.plan_for_update(session, plan_id)
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
    elif review.next_review_on is None:
        raise InvalidInput("a continued plan needs a next_review_on")
    else:
        plan.review_on = review.next_review_on
    await session.flush()
    await _audit(
        session, principal, "center.plan.review", case, plan=str(plan.id), outcome=review.outcome
    )
    return plan


async def overdue_reviews(
    session: AsyncSession, *, principal: Principal, on: date | None = None
) -> OverdueReviews:
    """Active plans of open cases whose review date has passed (ward staff: their ward)."""
    on = on or today_tokyo()
    plans = await repository.overdue_plans(session, on=on, ward_code=principal.ward)
    UnitOfWork.of(session).record_access(
        principal,
        action="center.overdue_reviews.view",
        target_type="center_case",
        purpose=PURPOSE,
        detail={"on": on.isoformat(), "cases": sorted({str(plan.case_id) for plan, _ in plans})},
    )
    return OverdueReviews(on=on, plans=plans)
