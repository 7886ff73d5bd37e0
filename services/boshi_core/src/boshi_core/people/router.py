from fastapi import APIRouter

from boshi_core.deps import Atena, PregnancyReader
from boshi_core.people import service
from boshi_core.people.schemas import (
    MyNumberSearchIn,
    PersonProfileOut,
)
from mch_common.openapi import problem_responses
from mch_common.web import Session

router = APIRouter(tags=["people"])
PURPOSE = "母子保健事務 (MCH casework: person profile)"


@router.get("/people/{person_no}", summary="A person's MCH profile (logged)")
async def get_person(
    person_no: str, session: Session, principal: PregnancyReader
) -> PersonProfileOut:
    return await service.profile(session, principal=principal, person_no=person_no, purpose=PURPOSE)


@router.post(
    "/people/search-by-my-number",
    responses=problem_responses(404, 503),  # nobody has it; atena does not answer
    summary="Find a person by My Number through atena's scoped lookup (logged on both sides)",
)
async def search_by_my_number(
    body: MyNumberSearchIn, session: Session, principal: PregnancyReader, atena: Atena
) -> PersonProfileOut:
    person = await service.find_by_my_number(
        session, principal, atena=atena, my_number=body.my_number, purpose=PURPOSE
    )
    return await service.profile_of(session, person.person_no)
