from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.births.models import Child, LowBirthWeightNotification
from boshi_core.people.service import person_in_scope
from boshi_core.pregnancy.models import Handbook, Pregnancy, PrenatalCheckup, PrenatalVoucher
from boshi_core.visits.models import HomeVisit
from mch_common.audit import AuditRecord, audit_principal
from mch_common.auth.principal import Principal

SECTIONS = (
    ("person", "宛名情報 (person, from atena)"),
    ("pregnancies", "妊娠届 (pregnancy notifications)"),
    ("handbooks", "母子健康手帳 (MCH handbooks)"),
    ("vouchers", "妊婦健康診査受診券 (prenatal checkup vouchers)"),
    ("prenatal_checkups", "妊婦健康診査 (prenatal checkups)"),
    ("children", "出生 (births: as mother)"),
    ("own_birth", "出生 (own birth record)"),
    ("low_birth_weight_notifications", "低体重児の届出 (low birth weight notifications)"),
    ("home_visits", "家庭訪問 (home visits)"),
    ("access_log", "アクセス記録 (who accessed this person's data)"),
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: _plain(getattr(obj, c.key)) for c in inspect(obj).mapper.column_attrs}


async def export(
    session: AsyncSession, *, principal: Principal, person_no: str, purpose: str
) -> dict[str, Any]:
    person = await person_in_scope(session, principal, person_no)
    pregnancies = list(
        (
            await session.execute(
                select(Pregnancy)
                .where(Pregnancy.person_no == person_no)
                .order_by(Pregnancy.notified_on)
            )
        ).scalars()
    )
    pregnancy_ids = [p.id for p in pregnancies]
    handbooks = list(
        (
            await session.execute(
                select(Handbook)
                .where(Handbook.pregnancy_id.in_(pregnancy_ids))
                .order_by(Handbook.handbook_no)
            )
        ).scalars()
    )
    vouchers = list(
        (
            await session.execute(
                select(PrenatalVoucher)
                .where(PrenatalVoucher.pregnancy_id.in_(pregnancy_ids))
                .order_by(PrenatalVoucher.voucher_no)
            )
        ).scalars()
    )
    checkups = list(
        (
            await session.execute(
                select(PrenatalCheckup)
                .where(PrenatalCheckup.pregnancy_id.in_(pregnancy_ids))
                .order_by(PrenatalCheckup.checkup_date)
            )
        ).scalars()
    )
    children = list(
        (
            await session.execute(
                select(Child).where(Child.mother_person_no == person_no).order_by(Child.birth_date)
            )
        ).scalars()
    )
    own_birth = list(
        (await session.execute(select(Child).where(Child.person_no == person_no))).scalars()
    )
    child_ids = [c.id for c in children + own_birth]
    lbw = list(
        (
            await session.execute(
                select(LowBirthWeightNotification).where(
                    LowBirthWeightNotification.child_id.in_(child_ids)
                )
            )
        ).scalars()
    )
    visits = list(
        (
            await session.execute(
                select(HomeVisit)
                .where(
                    or_(HomeVisit.mother_person_no == person_no, HomeVisit.child_id.in_(child_ids))
                )
                .order_by(HomeVisit.due_by)
            )
        ).scalars()
    )
    access = list(
        (
            await session.execute(
                select(AuditRecord)
                .where(AuditRecord.target_id == person_no)
                .order_by(AuditRecord.seq)
            )
        ).scalars()
    )
    # The export itself is an access: logged, and (from the next export on) disclosed too.
    await audit_principal(
        session,
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
        "access_log": [
            {
                k: _plain(getattr(r, k))
                for k in ("seq", "occurred_at", "actor", "terminal", "action", "purpose", "outcome")
            }
            for r in access
        ],
    }
