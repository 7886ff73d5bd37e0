"""Everything atena holds about one person, for a disclosure: the record now (the My Number
only as "registered": it is never decrypted for an export, which travels between services and
by post), its change history, and every access to it (mch_common.disclosure)."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atena.context import RegistryContext
from atena.persons import repository as repo
from atena.persons.rules import NO_SUCH_PERSON, person_ward_check
from atena.persons.schemas import PersonOut
from atena.persons.snapshot import PersonState
from mch_common.disclosure import person_accesses
from mch_common.errors import NotFound
from mch_common.person_numbers import is_valid_person_no
from mch_common.work import UnitOfWork


async def export(session: AsyncSession, *, ctx: RegistryContext, person_no: str) -> dict[str, Any]:
    view = await repo.person_view(session, person_no) if is_valid_person_no(person_no) else None
    if view is None:
        raise NotFound(NO_SUCH_PERSON)
    person_ward_check(ctx.principal, view.ward_code)
    has = view.my_number_key_id is not None
    person = PersonOut.of(PersonState(view.snapshot, has_my_number=has, my_number=None))
    history = await repo.changes(session, person_no)
    accesses = await person_accesses(session, person_no)
    # The export itself is an access: logged, and disclosed from the next export on.
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action="disclosure.export",
        target_type="person",
        target_id=person_no,
        purpose=ctx.purpose,
    )
    return {
        "person_no": person_no,
        "person": person.model_dump(mode="json"),
        "history": [
            {
                "version": change.version,
                "change_type": change.change_type,
                "effective_date": change.effective_date.isoformat(),
                "recorded_at": change.recorded_at.isoformat(),
                "reason": change.reason,
                "before": change.before,
                "after": change.after,
            }
            for change in history
        ],
        "access_log": accesses,
    }
