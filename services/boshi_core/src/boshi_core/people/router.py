from boshi_core.deps import Atena, PregnancyReader
from boshi_core.moving_in.schemas import PreviousCityNotificationOut
from boshi_core.people import service
from boshi_core.people.schemas import MyNumberSearchIn, PersonProfileOut
from mch_common.openapi import problem_responses
from mch_common.routes import ServiceRouter
from mch_common.web import Session


def profile_out(profile: service.PersonProfile) -> PersonProfileOut:
    # Validated from the rows in one call (people.repository reads them as dicts).
    return PersonProfileOut.model_validate(
        {
            "person": profile.person,
            "pregnancies": profile.pregnancies,
            "children": profile.children,
            "previous_city_notifications": [
                PreviousCityNotificationOut.of(r) for r in profile.previous_city_notifications
            ],
        }
    )


router = ServiceRouter(tags=["people"])
PURPOSE = "母子保健事務 (MCH casework: person profile)"


@router.get("/people/{person_no}", summary="A person's MCH profile (母子保健の記録; logged)")
async def get_person(
    person_no: str, session: Session, principal: PregnancyReader
) -> PersonProfileOut:
    return profile_out(
        await service.profile(session, principal=principal, person_no=person_no, purpose=PURPOSE)
    )


@router.post(
    "/people/search-by-my-number",
    responses=problem_responses(404, 503),  # nobody has it; atena does not answer
    summary="Find a person by My Number (個人番号による検索) through atena's lookup; "
    "logged on both sides",
)
async def search_by_my_number(
    body: MyNumberSearchIn, session: Session, principal: PregnancyReader, atena: Atena
) -> PersonProfileOut:
    return profile_out(
        await service.profile_by_my_number(
            session, principal=principal, atena=atena, my_number=body.my_number, purpose=PURPOSE
        )
    )
