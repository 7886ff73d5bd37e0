"""Queries for the child and family center's cases, consultations and support plans."""

from datetime import date
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.center.models import (
    CenterCase,
    CenterCaseMember,
    CenterConsultation,
    SupportPlan,
)


async def open_case_of_household(session: AsyncSession, household_key: str) -> UUID | None:
    stmt = select(CenterCase.id).where(
        CenterCase.household_key == household_key, CenterCase.status == "open"
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def get(
    session: AsyncSession, case_id: UUID, *, for_update: bool = False
) -> CenterCase | None:
    stmt = select(CenterCase).where(CenterCase.id == case_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def members_of(session: AsyncSession, case_id: UUID) -> list[CenterCaseMember]:
    stmt = (
        select(CenterCaseMember)
        .where(CenterCaseMember.case_id == case_id)
        .order_by(CenterCaseMember.person_no)
    )
    return list((await session.execute(stmt)).scalars())


async def consultations_of(session: AsyncSession, case_id: UUID) -> list[CenterConsultation]:
    stmt = (
        select(CenterConsultation)
        .where(CenterConsultation.case_id == case_id)
        .order_by(CenterConsultation.consulted_on, CenterConsultation.recorded_at)
    )
    return list((await session.execute(stmt)).scalars())


async def plans_of(session: AsyncSession, case_id: UUID) -> list[SupportPlan]:
    stmt = select(SupportPlan).where(SupportPlan.case_id == case_id).order_by(SupportPlan.version)
    return list((await session.execute(stmt)).scalars())


async def last_plan_version(session: AsyncSession, case_id: UUID) -> int:
    stmt = select(func.coalesce(func.max(SupportPlan.version), 0)).where(
        SupportPlan.case_id == case_id
    )
    return int((await session.execute(stmt)).scalar_one())


async def supersede_active_plan(session: AsyncSession, case_id: UUID) -> None:
    await session.execute(
        update(SupportPlan)
        .where(SupportPlan.case_id == case_id, SupportPlan.status == "active")
        .values(status="superseded")
    )


async def plan_for_update(session: AsyncSession, plan_id: UUID) -> SupportPlan | None:
    stmt = select(SupportPlan).where(SupportPlan.id == plan_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def overdue_plans(
    session: AsyncSession, *, on: date, ward_code: str | None
) -> list[tuple[SupportPlan, str | None]]:
    """Active plans of open cases whose review date is before `on`, with their case's ward."""
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
    if ward_code is not None:
        stmt = stmt.where(CenterCase.ward_code == ward_code)
    return [(plan, ward) for plan, ward in (await session.execute(stmt))]
