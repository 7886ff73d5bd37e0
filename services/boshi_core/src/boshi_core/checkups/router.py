from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, status

from boshi_core.checkups import repository, service
from boshi_core.checkups.schemas import (
    MONTH_PATTERN,
    CheckupProfile,
    ExtractionIn,
    ExtractionOut,
    FollowUpIn,
    FollowUpOut,
    NonAttendeeList,
    ProgrammeCode,
    ProgrammeOut,
    ResultIn,
    ResultOut,
    TargetList,
)
from boshi_core.checkups.windows import Period
from mch_common.auth.deps import require_scope
from mch_common.auth.principal import Principal
from mch_common.errors import Forbidden
from mch_common.openapi import problem_responses
from mch_common.web import Session

CheckupReader = Annotated[Principal, require_scope("boshi:checkup:read")]
CheckupWriter = Annotated[Principal, require_scope("boshi:checkup:write")]
Month = Annotated[str, Query(pattern=MONTH_PATTERN, examples=["2026-12"])]
PersonNo = Annotated[str, Path(pattern=r"^\d{10}$")]

router = APIRouter(prefix="/checkups", tags=["infant checkups"])


@router.get("/programmes", summary="Checkup programmes in force in a month (windows as data)")
async def programmes(
    session: Session, principal: CheckupReader, month: Month | None = None
) -> list[ProgrammeOut]:
    period = service.parse_period(month) if month else Period.current()
    return [
        ProgrammeOut(
            code=r.code,
            name=r.name,
            start_months=r.start_months,
            end_months=r.end_months,
            reminder_days_before_end=r.reminder_days_before_end,
            effective_from=r.effective_from,
        )
        for r in await repository.rules_in_force(session, period.first)
    ]


@router.post(
    "/extractions",
    status_code=status.HTTP_200_OK,
    responses=problem_responses(404),  # no such programme in force that month
    summary="Extract a month's targets as invitations (idempotent) and count its non-attendees",
)
async def extract(body: ExtractionIn, session: Session, principal: CheckupWriter) -> ExtractionOut:
    if not principal.city_wide:
        # The extraction writes the whole city's invitations; ward staff read their ward's.
        raise Forbidden("extraction is a city-wide operation")
    return await service.extract(
        session,
        programme=body.programme,
        period=service.parse_period(body.month),
        actor=principal.sub,
    )


@router.get(
    "/targets",
    responses=problem_responses(404),  # no such programme in force that month
    summary="The month's invited children (ward staff: their ward; logged)",
)
async def targets(
    session: Session, principal: CheckupReader, programme: ProgrammeCode, month: Month
) -> TargetList:
    return await service.list_targets(
        session, principal=principal, programme=programme, period=service.parse_period(month)
    )


@router.get(
    "/non-attendees",
    responses=problem_responses(404),  # no such programme in force that month
    summary="The month's non-attendees (未受診者): past the reminder point, no result (logged)",
)
async def non_attendees(
    session: Session, principal: CheckupReader, programme: ProgrammeCode, month: Month
) -> NonAttendeeList:
    return await service.list_non_attendees(
        session, principal=principal, programme=programme, period=service.parse_period(month)
    )


@router.get(
    "/children/{person_no}",
    summary="A child's checkup status per programme as of a month (logged)",
)
async def child_profile(
    person_no: PersonNo,
    session: Session,
    principal: CheckupReader,
    month: Month | None = None,
) -> CheckupProfile:
    return await service.profile(
        session,
        principal=principal,
        person_no=person_no,
        period=service.parse_period(month) if month else None,
    )


@router.post(
    "/children/{person_no}/results",
    status_code=status.HTTP_201_CREATED,
    summary="Record a checkup result; a detailed_exam judgement issues a voucher",
)
async def record_result(
    person_no: PersonNo, body: ResultIn, session: Session, principal: CheckupWriter
) -> ResultOut:
    return await service.record_result(
        session, principal=principal, person_no=person_no, result=body
    )


@router.post("/reminders/{notice_id}/follow-up", summary="Record a reminder's follow-up outcome")
async def follow_up(
    notice_id: UUID, body: FollowUpIn, session: Session, principal: CheckupWriter
) -> FollowUpOut:
    notice = await service.follow_up(
        session, principal=principal, notice_id=notice_id, outcome=body.outcome, note=body.note
    )
    assert notice.follow_up_outcome is not None
    assert notice.follow_up_at is not None
    return FollowUpOut(
        notice_id=notice.id,
        follow_up_outcome=notice.follow_up_outcome,
        follow_up_at=notice.follow_up_at,
    )
