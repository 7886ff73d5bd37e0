"""Everything e_application holds about one person (個人情報の開示, 個人情報保護法第77条): her
accepted applications (an application is tied to a person once atena's lookup resolved her at
acceptance) with every signed version's form and verification, the history, and every access
record naming her in the platform's one shape (mch_common.disclosure), which boshi_core collects
for a disclosure across the platform. The My Number is never decrypted for an export: an
application holding one says "registered", nothing more."""

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from e_application.applications import repository
from e_application.applications.models import Application, ApplicationMyNumber
from mch_common.auth.principal import Principal
from mch_common.disclosure import person_accesses
from mch_common.errors import NotFound
from mch_common.work import UnitOfWork

PURPOSE = "個人情報保護法第77条 開示請求 (disclosure request)"
_OF_PERSON = (
    select(Application)
    .where(Application.person_no == bindparam("person_no"))
    .order_by(Application.submitted_at)
)


async def export(session: AsyncSession, *, principal: Principal, person_no: str) -> dict[str, Any]:
    applications = list((await session.execute(_OF_PERSON, {"person_no": person_no})).scalars())
    accesses = await person_accesses(session, person_no)
    if not applications and not accesses:
        raise NotFound(f"e_application holds nothing about person {person_no}")
    items = []
    for a in applications:
        versions = await repository.versions(session, a.id)
        history = await repository.history(session, a.id)
        items.append(
            {
                "receipt_no": a.receipt_no,
                "procedure": a.procedure_code,
                "procedure_version": a.procedure_version,
                "status": a.status,
                "channel": a.channel,
                "purpose": a.purpose,
                "ward_code": a.ward_code,
                "submitted_at": a.submitted_at.isoformat(),
                "decided_at": a.decided_at.isoformat() if a.decided_at else None,
                "return_reason": a.return_reason,
                "retain_until": a.retain_until.isoformat(),
                "deleted_at": a.deleted_at.isoformat() if a.deleted_at else None,
                "my_number": (
                    "registered"
                    if await session.get(ApplicationMyNumber, a.id) is not None
                    else None
                ),
                "versions": [
                    {
                        "version_no": v.version_no,
                        "signed_at": v.signed_at.isoformat(),
                        "received_at": v.received_at.isoformat(),
                        "authority": v.authority,
                        "certificate_serial": v.certificate_serial,
                        "checks": v.checks,
                        "form": v.form,
                    }
                    for v in versions
                ],
                "history": [
                    {"at": h.at.isoformat(), "actor": h.actor, "action": h.action, "note": h.note}
                    for h in history
                ],
            }
        )
    # The export itself is an access: logged, and disclosed from the next export on.
    UnitOfWork.of(session).record_access(
        principal,
        action="disclosure.export",
        target_type="person",
        target_id=person_no,
        purpose=PURPOSE,
    )
    return {
        "person_no": person_no,
        "applications": items,
        "access_log": accesses,
    }
