"""職権修正: corrections of recorded errors, also of contact details (phone, e-mail), which
have no life event of their own."""

from sqlalchemy.ext.asyncio import AsyncSession

from atena.context import RegistryContext
from atena.persons import repository as repo
from atena.persons.history import record_change
from atena.persons.rules import (
    check_address,
    check_birth_date,
    invalid,
    load_person,
    person_ward_check,
    set_address,
    set_names,
)
from atena.persons.schemas import Correction
from atena.persons.snapshot import PersonState
from mch_common.dates import today_tokyo

# Every person has these: a correction may change them, never empty them.
REQUIRED_FIELDS = (
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "sex",
    "birth_date",
    "address",
)


async def correct(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str, body: Correction
) -> PersonState:
    """職権修正: also used for contact details (phone, e-mail), which have no life event."""
    person = await load_person(session, person_no, lock=True)
    changes = body.changes.model_dump(exclude_unset=True)
    if not changes:
        raise invalid("changes", "name at least one field to correct")
    person_ward_check(ctx.principal, person.ward_code)
    if body.changes.birth_date is not None:
        check_birth_date(body.changes.birth_date, loc="changes.birth_date")
    if body.changes.address is not None:
        check_address(
            body.changes.address,
            tenant=ctx.tenant,
            in_city=person.residence_status == "resident",
            loc="changes.address",
        )
    for field in REQUIRED_FIELDS:
        if field in changes and changes[field] is None:
            raise invalid(f"changes.{field}", "this field cannot be emptied")
    before = await repo.snapshot(session, person_no)
    changes.pop("address", None)  # its columns, below
    for field, value in changes.items():
        setattr(person, field, value)
    if body.changes.address is not None:
        set_address(person, body.changes.address)
    set_names(person)
    effective = body.effective_date or today_tokyo()
    return await record_change(
        session,
        ctx,
        person=person,
        verb="corrected",
        effective_date=effective,
        before=before,
        reason=body.reason,
        correction_from=body.effective_date,
    )
