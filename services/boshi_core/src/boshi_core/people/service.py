"""Finding the person a request is about, and checking the caller may see them."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.moving_in import repository as moving_in
from boshi_core.moving_in.ims import PREGNANCY_ITEM
from boshi_core.moving_in.models import PreviousCityRecord
from boshi_core.people import repository
from boshi_core.people.atena import AtenaClient
from boshi_core.people.models import Person
from mch_common.auth.deps import ensure_ward_access
from mch_common.auth.principal import Principal
from mch_common.errors import Forbidden, NotFound
from mch_common.refusals import refusal, refused_as_miss
from mch_common.work import UnitOfWork

# One answer for "nobody" and "somebody you may not see": a refusal tells no more than a miss.
NO_SUCH_PERSON = "no such person in boshi_core (or atena's registration has not arrived yet)"
NO_PERSON_WITH_MY_NUMBER = "no person found with that My Number"


@dataclass(frozen=True)
class PersonProfile:
    """A person with their pregnancies (newest first) and the children they are mother of,
    each a row of the columns the answer shows (`repository.profile_person`), and the
    pregnancy notifications a previous city provided when she moved in (item 80)."""

    person: dict[str, Any]
    pregnancies: list[dict[str, Any]]
    children: list[dict[str, Any]]
    previous_city_notifications: Sequence[PreviousCityRecord]


async def require_person(session: AsyncSession, person_no: str) -> Person:
    person = await repository.get(session, person_no)
    if person is None:
        raise NotFound(NO_SUCH_PERSON)
    return person


def ensure_person_visible(principal: Principal, ward_code: str | None, *, miss: str) -> None:
    """The caller's ward may see a person of `ward_code` (ward staff: their ward's
    residents); else the answer is the miss `miss`, the access record saying it was a
    refusal."""
    try:
        ensure_ward_access(principal, ward_code or "")
    except Forbidden as denied:
        raise refused_as_miss(denied, NotFound(miss)) from None


async def person_in_scope(session: AsyncSession, principal: Principal, person_no: str) -> Person:
    """The person, if the caller's ward may see them; another ward's resident is not found."""
    person = await require_person(session, person_no)
    ensure_person_visible(principal, person.ward_code, miss=NO_SUCH_PERSON)
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
    or logged here: the access record names only the person found. Nobody, somebody boshi_core
    does not know yet, and somebody of another ward get the same 404; the committed access
    record says which."""
    action = "person.lookup_by_my_number"
    person_no = await atena.lookup_person_no(my_number)
    if person_no is None:
        raise refusal(
            session,
            NotFound(NO_PERSON_WITH_MY_NUMBER),
            principal,
            action=action,
            target_type="person",
            purpose=purpose,
        )
    person = await repository.get(session, person_no)
    try:
        if person is None:
            raise NotFound(NO_PERSON_WITH_MY_NUMBER)
        ensure_person_visible(principal, person.ward_code, miss=NO_PERSON_WITH_MY_NUMBER)
    except NotFound as miss:
        raise refusal(
            session,
            miss,
            principal,
            action=action,
            target_type="person",
            target_id=person_no,
            purpose=purpose,
        ) from None
    UnitOfWork.of(session).record_access(
        principal,
        action=action,
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
    return await _profile_of(session, repository.profile_person_of(person))


async def _profile_of(session: AsyncSession, person: dict[str, Any]) -> PersonProfile:
    """The profile around the person already read (and checked) in this transaction."""
    person_no = person["person_no"]
    return PersonProfile(
        person=person,
        pregnancies=await repository.pregnancy_summaries(session, person_no),
        children=await repository.child_summaries(session, person_no),
        previous_city_notifications=await moving_in.records_of(
            session, person_no, item_no=PREGNANCY_ITEM
        ),
    )


async def profile(
    session: AsyncSession, *, principal: Principal, person_no: str, purpose: str
) -> PersonProfile:
    """A person's MCH profile, for a caller whose ward may see them; the view is logged."""
    person = await repository.profile_person(session, person_no)
    if person is None:
        raise NotFound(NO_SUCH_PERSON)
    ensure_person_visible(principal, person["ward_code"], miss=NO_SUCH_PERSON)
    UnitOfWork.of(session).record_access(
        principal,
        action="person.view",
        target_type="person",
        target_id=person_no,
        purpose=purpose,
    )
    return await _profile_of(session, person)
