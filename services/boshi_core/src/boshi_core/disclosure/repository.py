"""The queries of a disclosure export: every row boshi_core holds about one person."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.births.models import Child, LowBirthWeightNotification
from boshi_core.center.models import CenterCase, CenterCaseMember, CenterConsultation, SupportPlan
from boshi_core.checkups.models import CheckupNotice, CheckupResult, DetailedExamVoucher
from boshi_core.moving_in.models import PreviousCityRecord
from boshi_core.pregnancy.models import Handbook, Pregnancy, PrenatalCheckup, PrenatalVoucher
from boshi_core.visits.models import HomeVisit
from mch_common.disclosure import person_accesses


@dataclass(frozen=True)
class HeldRecords:
    """A person's rows in every table but the center's, as the disclosure lists them."""

    pregnancies: list[Pregnancy]
    handbooks: list[Handbook]
    vouchers: list[PrenatalVoucher]
    prenatal_checkups: list[PrenatalCheckup]
    children: list[Child]  # as mother
    own_birth: list[Child]
    low_birth_weight_notifications: list[LowBirthWeightNotification]
    home_visits: list[HomeVisit]
    infant_checkup_notices: list[CheckupNotice]
    infant_checkup_results: list[CheckupResult]
    detailed_exam_vouchers: list[DetailedExamVoucher]
    previous_city_records: list[PreviousCityRecord]
    access_log: list[dict[str, Any]]  # mch_common.disclosure's shape


async def _all(session: AsyncSession, stmt: Select[Any]) -> list[Any]:
    return list((await session.execute(stmt)).scalars())


async def records_of(session: AsyncSession, person_no: str) -> HeldRecords:
    pregnancies = await _all(
        session,
        select(Pregnancy).where(Pregnancy.person_no == person_no).order_by(Pregnancy.notified_on),
    )
    pregnancy_ids = [p.id for p in pregnancies]
    children = await _all(
        session,
        select(Child).where(Child.mother_person_no == person_no).order_by(Child.birth_date),
    )
    own_birth = await _all(session, select(Child).where(Child.person_no == person_no))
    child_ids = [c.id for c in children + own_birth]

    async def of_person(model: Any, order: Any) -> list[Any]:
        return await _all(
            session, select(model).where(model.person_no == person_no).order_by(order)
        )

    return HeldRecords(
        pregnancies=pregnancies,
        handbooks=await _all(
            session,
            select(Handbook)
            .where(Handbook.pregnancy_id.in_(pregnancy_ids))
            .order_by(Handbook.handbook_no),
        ),
        vouchers=await _all(
            session,
            select(PrenatalVoucher)
            .where(PrenatalVoucher.pregnancy_id.in_(pregnancy_ids))
            .order_by(PrenatalVoucher.voucher_no),
        ),
        prenatal_checkups=await _all(
            session,
            select(PrenatalCheckup)
            .where(PrenatalCheckup.pregnancy_id.in_(pregnancy_ids))
            .order_by(PrenatalCheckup.checkup_date),
        ),
        children=children,
        own_birth=own_birth,
        low_birth_weight_notifications=await _all(
            session,
            select(LowBirthWeightNotification).where(
                LowBirthWeightNotification.child_id.in_(child_ids)
            ),
        ),
        home_visits=await _all(
            session,
            select(HomeVisit)
            .where(or_(HomeVisit.mother_person_no == person_no, HomeVisit.child_id.in_(child_ids)))
            .order_by(HomeVisit.due_by),
        ),
        infant_checkup_notices=await of_person(CheckupNotice, CheckupNotice.period),
        infant_checkup_results=await of_person(CheckupResult, CheckupResult.examined_on),
        detailed_exam_vouchers=await of_person(DetailedExamVoucher, DetailedExamVoucher.voucher_no),
        previous_city_records=await of_person(PreviousCityRecord, PreviousCityRecord.as_of),
        access_log=await person_accesses(session, person_no),
    )


async def center_case_ids(session: AsyncSession, person_no: str) -> list[UUID]:
    stmt = select(CenterCaseMember.case_id).where(CenterCaseMember.person_no == person_no)
    return await _all(session, stmt)


async def center_cases(
    session: AsyncSession, case_ids: Sequence[UUID]
) -> list[tuple[CenterCase, list[CenterConsultation], list[SupportPlan]]]:
    """Each case with its consultations and support plans."""
    out = []
    for case in await _all(session, select(CenterCase).where(CenterCase.id.in_(case_ids))):
        consultations = await _all(
            session, select(CenterConsultation).where(CenterConsultation.case_id == case.id)
        )
        plans = await _all(session, select(SupportPlan).where(SupportPlan.case_id == case.id))
        out.append((case, consultations, plans))
    return out
