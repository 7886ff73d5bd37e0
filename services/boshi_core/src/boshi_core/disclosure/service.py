import asyncio
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import Select, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.births.models import Child, LowBirthWeightNotification
from boshi_core.center.models import CenterCase, CenterCaseMember, CenterConsultation, SupportPlan
from boshi_core.checkups.models import CheckupNotice, CheckupResult, DetailedExamVoucher
from boshi_core.disclosure import pdf
from boshi_core.people.service import person_in_scope
from boshi_core.pregnancy.models import Handbook, Pregnancy, PrenatalCheckup, PrenatalVoucher
from boshi_core.visits.models import HomeVisit
from mch_common.audit import AuditRecord
from mch_common.auth.principal import Principal
from mch_common.work import UnitOfWork


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


async def _all(session: AsyncSession, stmt: Select[Any]) -> list[Any]:
    return list((await session.execute(stmt)).scalars())


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: _plain(getattr(obj, c.key)) for c in inspect(obj).mapper.column_attrs}


async def export(
    session: AsyncSession, *, principal: Principal, person_no: str, purpose: str
) -> dict[str, Any]:
    person = await person_in_scope(session, principal, person_no)
    pregnancies = await _all(
        session,
        select(Pregnancy).where(Pregnancy.person_no == person_no).order_by(Pregnancy.notified_on),
    )
    pregnancy_ids = [p.id for p in pregnancies]
    handbooks = await _all(
        session,
        select(Handbook)
        .where(Handbook.pregnancy_id.in_(pregnancy_ids))
        .order_by(Handbook.handbook_no),
    )
    vouchers = await _all(
        session,
        select(PrenatalVoucher)
        .where(PrenatalVoucher.pregnancy_id.in_(pregnancy_ids))
        .order_by(PrenatalVoucher.voucher_no),
    )
    checkups = await _all(
        session,
        select(PrenatalCheckup)
        .where(PrenatalCheckup.pregnancy_id.in_(pregnancy_ids))
        .order_by(PrenatalCheckup.checkup_date),
    )
    children = await _all(
        session,
        select(Child).where(Child.mother_person_no == person_no).order_by(Child.birth_date),
    )
    own_birth = await _all(session, select(Child).where(Child.person_no == person_no))
    child_ids = [c.id for c in children + own_birth]
    lbw = await _all(
        session,
        select(LowBirthWeightNotification).where(
            LowBirthWeightNotification.child_id.in_(child_ids)
        ),
    )
    visits = await _all(
        session,
        select(HomeVisit)
        .where(or_(HomeVisit.mother_person_no == person_no, HomeVisit.child_id.in_(child_ids)))
        .order_by(HomeVisit.due_by),
    )

    async def of_person(model: Any, order: Any) -> list[Any]:
        return await _all(
            session,
            select(model).where(model.person_no == person_no).order_by(order),
        )

    notices = await of_person(CheckupNotice, CheckupNotice.period)
    results = await of_person(CheckupResult, CheckupResult.examined_on)
    exam_vouchers = await of_person(DetailedExamVoucher, DetailedExamVoucher.voucher_no)
    center = await _center_cases(session, principal, person_no)
    access = await _all(
        session,
        select(AuditRecord).where(AuditRecord.target_id == person_no).order_by(AuditRecord.seq),
    )
    # The export itself is an access: logged, and (from the next export on) disclosed too.
    UnitOfWork.of(session).record_access(
        principal,
        action="disclosure.export",
        target_type="person",
        target_id=person_no,
        purpose=purpose,
    )
    return {
        "person_no": person_no,
        "exported_at": datetime.now(UTC).isoformat(),
        "exported_by": principal.sub,
        "person": _row(person),
        "pregnancies": [_row(p) for p in pregnancies],
        "handbooks": [_row(h) for h in handbooks],
        "vouchers": [_row(v) for v in vouchers],
        "prenatal_checkups": [_row(c) for c in checkups],
        "children": [_row(c) for c in children],
        "own_birth": [_row(c) for c in own_birth],
        "low_birth_weight_notifications": [_row(n) for n in lbw],
        "home_visits": [_row(v) for v in visits],
        "infant_checkup_notices": [_row(n) for n in notices],
        "infant_checkup_results": [_row(r) for r in results],
        "detailed_exam_vouchers": [_row(v) for v in exam_vouchers],
        "center_cases": center,
        "access_log": [
            {
                k: _plain(getattr(r, k))
                for k in ("seq", "occurred_at", "actor", "terminal", "action", "purpose", "outcome")
            }
            for r in access
        ],
    }


async def export_pdf(
    session: AsyncSession,
    *,
    principal: Principal,
    person_no: str,
    purpose: str,
    font_path: Path | None,
) -> bytes:
    """`export` as a readable PDF (Japanese, embedded font), rendered off the event loop."""
    held = await export(session, principal=principal, person_no=person_no, purpose=purpose)
    return await asyncio.to_thread(pdf.render, held, font_path=font_path)


async def _center_cases(
    session: AsyncSession, principal: Principal, person_no: str
) -> list[dict[str, Any]]:
    """Center records are the center staff's alone: disclosed only by someone who may read
    them (else the section says what was withheld and why)."""
    case_ids = await _all(
        session,
        select(CenterCaseMember.case_id).where(CenterCaseMember.person_no == person_no),
    )
    if not case_ids:
        return []
    if not principal.has_scope("boshi:center:read"):
        return [{"withheld": len(case_ids), "reason": "needs boshi:center:read"}]
    out = []
    for case in (
        await session.execute(select(CenterCase).where(CenterCase.id.in_(case_ids)))
    ).scalars():
        consultations = (
            await session.execute(
                select(CenterConsultation).where(CenterConsultation.case_id == case.id)
            )
        ).scalars()
        plans = (
            await session.execute(select(SupportPlan).where(SupportPlan.case_id == case.id))
        ).scalars()
        out.append(
            {
                **_row(case),
                "consultations": [_row(c) for c in consultations],
                "support_plans": [_row(p) for p in plans],
            }
        )
    return out
