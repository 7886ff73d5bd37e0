import asyncio
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.disclosure import pdf, repository
from boshi_core.immunization.client import DISCLOSURE_PURPOSE, ImmunizationClient
from boshi_core.people.service import person_in_scope
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


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: _plain(getattr(obj, c.key)) for c in inspect(obj).mapper.column_attrs}


async def export(
    session: AsyncSession,
    *,
    principal: Principal,
    person_no: str,
    purpose: str,
    immunization: ImmunizationClient,
) -> dict[str, Any]:
    person = await person_in_scope(session, principal, person_no)
    held = await repository.records_of(session, person_no)
    # The statuses are the bridge's (it holds the records); shown here as the MCH system shows
    # them in the checkup profile, or marked unavailable when the bridge does not answer.
    vaccinations = await immunization.vaccinations(person_no, purpose=DISCLOSURE_PURPOSE)
    center = await _center_cases(session, principal, person_no)
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
        "pregnancies": [_row(p) for p in held.pregnancies],
        "handbooks": [_row(h) for h in held.handbooks],
        "vouchers": [_row(v) for v in held.vouchers],
        "prenatal_checkups": [_row(c) for c in held.prenatal_checkups],
        "children": [_row(c) for c in held.children],
        "own_birth": [_row(c) for c in held.own_birth],
        "low_birth_weight_notifications": [_row(n) for n in held.low_birth_weight_notifications],
        "home_visits": [_row(v) for v in held.home_visits],
        "infant_checkup_notices": [_row(n) for n in held.infant_checkup_notices],
        "infant_checkup_results": [_row(r) for r in held.infant_checkup_results],
        "detailed_exam_vouchers": [_row(v) for v in held.detailed_exam_vouchers],
        "previous_city_records": [_row(r) for r in held.previous_city_records],
        "center_cases": center,
        "vaccinations": vaccinations.model_dump(mode="json"),
        "access_log": held.access_log,
    }


async def export_pdf(
    session: AsyncSession,
    *,
    principal: Principal,
    person_no: str,
    purpose: str,
    font_path: Path | None,
    immunization: ImmunizationClient,
) -> bytes:
    """`export` as a readable PDF (Japanese, embedded font), rendered off the event loop."""
    held = await export(
        session,
        principal=principal,
        person_no=person_no,
        purpose=purpose,
        immunization=immunization,
    )
    return await asyncio.to_thread(pdf.render, held, font_path=font_path)


async def _center_cases(
    session: AsyncSession, principal: Principal, person_no: str
) -> list[dict[str, Any]]:
    """Center records are the center staff's alone: disclosed only by someone who may read
    them (else the section says what was withheld and why)."""
    case_ids = await repository.center_case_ids(session, person_no)
    if not case_ids:
        return []
    if not principal.has_scope("boshi:center:read"):
        return [{"withheld": len(case_ids), "reason": "needs boshi:center:read"}]
    return [
        {
            **_row(case),
            "consultations": [_row(c) for c in consultations],
            "support_plans": [_row(p) for p in plans],
        }
        for case, consultations, plans in await repository.center_cases(session, case_ids)
    ]
