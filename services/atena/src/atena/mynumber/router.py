"""HTTP endpoints of the My Number: registering it, and the lookup of the person who has it
(the number travels in the body, never the URL)."""

from typing import Annotated

from fastapi import Request

from atena.mynumber import service
from atena.mynumber.schemas import LookupOut, MyNumberLookup, MyNumberRegistration
from atena.persons.schemas import PersonOut
from atena.web import PurposeHeader, registry_context
from mch_common.auth.deps import require_scope
from mch_common.auth.principal import Principal
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(tags=["my number"])

Writer = Annotated[Principal, require_scope("atena:person:write")]
Looker = Annotated[Principal, require_scope("atena:mynumber:lookup")]


@router.post(
    "/persons/lookup-by-my-number",
    summary="Which person has this My Number (the number travels in the body, never the URL)",
    responses={404: {"description": "nobody (the caller may see) has this My Number"}},
)
async def lookup_by_my_number(
    body: MyNumberLookup,
    session: Session,
    principal: Looker,
    request: Request,
    purpose: PurposeHeader = None,
) -> LookupOut:
    match = await service.lookup_by_my_number(
        session,
        ctx=registry_context(request, principal, purpose),
        my_number=body.my_number.get_secret_value(),
    )
    person = PersonOut.of(match.person) if match.person is not None else None
    return LookupOut(person_no=match.person_no, person=person)


@router.put(
    "/persons/{person_no}/my-number",
    summary="個人番号: register a first My Number, or replace it (with a reason)",
)
async def register_my_number(
    person_no: str,
    body: MyNumberRegistration,
    session: Session,
    principal: Writer,
    request: Request,
    purpose: PurposeHeader = None,
) -> PersonOut:
    person = await service.register_my_number(
        session,
        ctx=registry_context(request, principal, purpose),
        person_no=person_no,
        my_number=body.my_number.get_secret_value(),
        reason=body.reason,
    )
    return PersonOut.of(person)
