"""Everything the bridge holds about one person (個人情報の開示), as JSON and as a PDF: the
register entry, every record (deleted ones marked), today's statuses, the changes sent to the
register in its files, and every access to their data."""

import asyncio
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from immunization_bridge.disclosure import pdf
from immunization_bridge.register_files import repository as register_files
from immunization_bridge.status import repository
from immunization_bridge.status.service import child_in_scope, status_of
from mch_common.auth.principal import Principal
from mch_common.disclosure import person_accesses
from mch_common.work import UnitOfWork


async def export(
    session: AsyncSession, *, principal: Principal, person_no: str, on: date, purpose: str
) -> dict[str, Any]:
    child = await child_in_scope(session, principal, person_no)
    records = await repository.records_of(session, person_no)
    status = await status_of(session, child, on)
    sent = await register_files.changes_of_person(session, person_no)
    # Every access to the person: the target, shown in a list, or refused (one indexed query),
    # in the platform's disclosure shape (nothing about anyone else).
    accesses = await person_accesses(session, person_no)
    # The export itself is an access: logged, and disclosed from the next export on.
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
        "child": {
            "birth_date": child.birth_date.isoformat(),
            "residence_status": child.residence_status,
            "family_name": child.family_name,
            "given_name": child.given_name,
            "family_name_kana": child.family_name_kana,
            "given_name_kana": child.given_name_kana,
            "sex": child.sex,
            "ward_code": child.ward_code,
        },
        "records": [
            {
                "record_id": r.record_id,
                "vaccine": r.vaccine,
                "dose_no": r.dose_no,
                "given_on": r.given_on.isoformat(),
                "lot": r.lot,
                "institution_code": r.institution_code,
                "deleted": r.deleted,
                "file_id": r.file_id,
            }
            for r in records
        ],
        "status": status.model_dump(mode="json")["doses"],
        "register_changes": [
            {
                "change": c.change,
                "effective_date": c.effective_date.isoformat(),
                "family_name": c.family_name,
                "given_name": c.given_name,
                "family_name_kana": c.family_name_kana,
                "given_name_kana": c.given_name_kana,
                "ward_code": c.ward_code,
                "other_municipality_code": c.other_municipality_code,
                "recorded_at": c.recorded_at.isoformat(),
                "file_run_id": c.run_id,
            }
            for c in sent
        ],
        "access_log": accesses,
    }


async def export_pdf(
    session: AsyncSession, *, principal: Principal, person_no: str, on: date, purpose: str
) -> bytes:
    """`export` as a readable PDF (Japanese, embedded font), rendered off the event loop."""
    held = await export(session, principal=principal, person_no=person_no, on=on, purpose=purpose)
    return await asyncio.to_thread(pdf.render, held)
