"""Finding the person a request is about, and checking the caller may see them."""

from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.births.models import Child
from boshi_core.people import repository
from boshi_core.people.atena import AtenaClient
from boshi_core.people.models import Person
from boshi_core.pregnancy.models import Pregnancy
from mch_common.auth.deps import ensure_ward_access
from mch_common.auth.principal import Principal
from mch_common.errors import NotFound
from mch_common.work import UnitOfWork


@dataclass(frozen=True)
class PersonProfile:
    """A person with their pregnancies (newest first) and the children they are mother of."""

    person: Person
    pregnancies: list[Pregnancy]
    children: list[Child]


async def require_person(session: AsyncSession, person_no: str) -> Person:
    person = await repository.get(session, person_no)
    if person is None:
        raise NotFound(
            f"person {person_no} is not known to boshi_core: atena has not registered them "
            "(or its event has not arrived yet)"
        )
    return person


async def person_in_scope(session: AsyncSession, principal: Principal, person_no: str) -> Person:
    """The person, if the caller's ward may see them (ward staff: their ward's residents)."""
    person = await require_person(session, person_no)
    ensure_ward_access(principal, person.ward_code or "")
    return person


async def find_by_my_number(
    session: AsyncSession,
    principal: Principal,
    *,
    atena: AtenaClient,
    my_number: SecretStr,
    purpose: str,
) -> Person:
    """Search by My Number through atena's scoped lookup; the number itself is never stored
    or logged here: the access record names only the person found."""
    person_no = await atena.lookup_person_no(my_number)
    if person_no is None:
        UnitOfWork.of(session).record_access(
            principal,
            action="person.lookup_by_my_number",
            outcome="not_found",
            target_type="person",
            purpose=purpose,
        )
        raise NotFound("atena knows no person with that My Number")
    person = await require_person(session, person_no)
    ensure_ward_access(principal, person.ward_code or "")
    UnitOfWork.of(session).record_access(
        principal,
        action="person.lookup_by_my_number",
        target_type="person",
        target_id=person_no,
        purpose=purpose,
    )
    return person


async def profile_by_my_number(
    session: AsyncSession,
    *,
    principal: Principal,
    atena: AtenaClient,
    my_number: SecretStr,
    purpose: str,
) -> PersonProfile:
    """The profile of the person atena finds by My Number (the lookup is the logged access)."""
    person = await find_by_my_number(
        session, principal, atena=atena, my_number=my_number, purpose=purpose
    )
    return await _profile_of(session, person.person_no)


async def _profile_of(session: AsyncSession, person_no: str) -> PersonProfile:
    return PersonProfile(
        person=await require_person(session, person_no),
        pregnancies=await repository.pregnancies_of(session, person_no),
        children=await repository.children_of(session, person_no),
    )


async def profile(
    session: AsyncSession, *, principal: Principal, person_no: str, purpose: str
) -> PersonProfile:
    """A person's MCH profile, for a caller whose ward may see them; the view is logged."""
    await person_in_scope(session, principal, person_no)
    UnitOfWork.of(session).record_access(
        principal,
        action="person.view",
        target_type="person",
        target_id=person_no,
        purpose=purpose,
    )
    return await _profile_of(session, person_no)
