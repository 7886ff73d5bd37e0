"""Everything the intermediate server holds about one person of the caller's municipality, for
a disclosure across the platform (開示, issue 19): whether her 符号 is held ("registered": it is
never decrypted for an export), the replica's entries about her (items 80 and 95), the provision
records (情報提供等記録: who asked for her data, who provided it, what was held or suspended),
a suspension of provision, and the accesses to her in the platform's one shape
(mch_common.disclosure). Another municipality's records of the same person are not hers here:
they are named by that municipality's person number, and walled off."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.codes.repository import code_of_person
from intermediate_server.codes.service import person_key
from intermediate_server.records.service import RECORD_ACTIONS, persons_of, record_view
from intermediate_server.replica.models import ReplicaEntry
from intermediate_server.suspensions.service import held_about
from mch_common.audit import AuditRecord, about_person
from mch_common.auth.principal import Principal
from mch_common.disclosure import person_accesses
from mch_common.errors import NotFound
from mch_common.work import UnitOfWork

PURPOSE = "個人情報保護法第77条 開示請求 (disclosure request)"
NOTHING_HELD = "the intermediate server holds nothing about this person"


async def export(session: AsyncSession, *, principal: Principal, person_no: str) -> dict[str, Any]:
    """The session is walled to the caller's municipality (row-level security)."""
    key = person_key(principal.tenant, person_no)
    code = await code_of_person(session, person_no)
    entries = (
        await session.scalars(
            select(ReplicaEntry)
            .where(ReplicaEntry.person_no == person_no)
            .order_by(ReplicaEntry.item_no, ReplicaEntry.as_of)
        )
    ).all()
    records = (
        await session.scalars(
            select(AuditRecord)
            .where(AuditRecord.action.in_(RECORD_ACTIONS), about_person(key))
            .order_by(AuditRecord.seq)
        )
    ).all()
    suspension = await held_about(session, person_no)
    accesses = await person_accesses(session, key)
    if code is None and not entries and not records and suspension is None and not accesses:
        raise NotFound(NOTHING_HELD)
    # The export itself is an access: logged, and disclosed from the next export on.
    UnitOfWork.of(session).record_access(
        principal,
        action="disclosure.export",
        target_type="person",
        target_id=person_no,
        purpose=PURPOSE,
        detail={"tenant": principal.tenant},
        persons=persons_of(principal.tenant, person_no),
    )
    return {
        "person_no": person_no,
        "municipality": principal.tenant,
        "code": "registered" if code is not None else None,
        "code_obtained_at": code.obtained_at.isoformat() if code is not None else None,
        "replica": [
            {
                "item_no": e.item_no,
                "record_key": e.record_key,
                "as_of": e.as_of.isoformat(),
                "data": e.data,
                "registered_at": e.registered_at.isoformat(),
            }
            for e in entries
        ],
        "provision_records": [
            {**record_view(r), "occurred_at": r.occurred_at.isoformat()} for r in records
        ],
        "provision_suspension": (
            {
                "suspended": suspension.suspended,
                "effective_on": suspension.effective_on.isoformat(),
                "request_id": suspension.request_id,
            }
            if suspension is not None
            else None
        ),
        "access_log": accesses,
    }
