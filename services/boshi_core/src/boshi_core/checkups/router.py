from typing import Annotated
from uuid import UUID

from fastapi import Path, Query, status

from boshi_core.checkups import service
from boshi_core.checkups.models import CheckupNotice, CheckupResult, DetailedExamVoucher
from boshi_core.checkups.schemas import (
    MONTH_PATTERN,
    CheckupProfile,
    ExtractionIn,
    ExtractionOut,
    FollowUpIn,
    FollowUpOut,
    Measurements,
    NonAttendeeList,
    NonAttendeeOut,
    NoticeOut,
    ProgrammeCode,
    ProgrammeOut,
    ProgrammeStatus,
    ResultIn,
    ResultOut,
    TargetList,
    TargetOut,
    VoucherOut,
)
from boshi_core.checkups.windows import Period
from boshi_core.deps import Immunization
from mch_common.auth.deps import require_scope
from mch_common.auth.principal import Principal
from mch_common.errors import Forbidden
from mch_common.openapi import problem_responses
from mch_common.routes import ServiceRouter
from mch_common.web import Session

CheckupReader = Annotated[Principal, require_scope("boshi:checkup:read")]
CheckupWriter = Annotated[Principal, require_scope("boshi:checkup:write")]
Month = Annotated[str, Query(pattern=MONTH_PATTERN, examples=["2026-12"])]
Limit = Annotated[int, Query(ge=1, le=500, description="children per page")]
Cursor = Annotated[str | None, Query(max_length=100, description="the previous page's next_cursor")]
PAGING = (
    "\n\nPaged: `limit` children (1 to 500, default 50) in ward, household and person order "
    "(a child without a ward first, siblings together), the next page by `cursor` = this "
    "page's `next_cursor` (null on the last page). A child listed meanwhile neither repeats "
    "nor shifts a page. Each page is an access record naming its children.\n"
)
PersonNo = Annotated[str, Path(pattern=r"^\d{10}$")]


def notice_out(n: CheckupNotice) -> NoticeOut:
    return NoticeOut(
        id=n.id,
        kind=n.kind,
        period=str(Period.of(n.period)),
        reason=n.reason,
        status=n.status,
        letter_no=n.letter_no,
        sent_at=n.sent_at,
        follow_up_outcome=n.follow_up_outcome,
    )


def result_out(result: CheckupResult, voucher: DetailedExamVoucher | None) -> ResultOut:
    return ResultOut(
        id=result.id,
        person_no=result.person_no,
        programme=result.programme_code,
        examined_on=result.examined_on,
        institution=result.institution,
        measurements=Measurements(
            height_cm=result.height_cm,
            weight_kg=result.weight_kg,
            head_circumference_cm=result.head_circumference_cm,
            chest_circumference_cm=result.chest_circumference_cm,
        ),
        development=dict(result.development),
        findings=result.findings,
        judgement=result.judgement,
        next_action=result.next_action,
        voucher=VoucherOut.model_validate(voucher) if voucher else None,
    )


router = ServiceRouter(prefix="/checkups", tags=["infant checkups"])

# What "the month's targets" means, as checkups/windows.py and the SQL of checkups/predicate.py
# decide it; tests/test_month_targets_example.py checks the example.
MONTH_RULES = """
**Window.** A programme version (the one in force on the month's first day, `GET
/checkups/programmes?month=`) opens on the day the child reaches `start_months` in legal month
age and closes the day before `end_months`; the **reminder point** is `reminder_days_before_end`
(60) days before the window's last day. Only residents (not moved out, not deceased) count.

**Targets of month M** (`POST /checkups/extractions`, `GET /checkups/targets`): each child
whose window is open on at least one day of M and who has no invitation for the programme and no
result yet, invited once. Reason `entered`: the window opens within M. Reason `catch_up`: it
opened before M (a child who moved in or was registered late, or a first run).

**Non-attendees of month M** (`GET /checkups/non-attendees`): no result, the reminder point on
or before M's last day, the window not closed before M's first day. The reminder run of M
writes a letter to each of them not reminded in an earlier month (once per programme).

**Example**, a child born on 31 January 2026, 4-month checkup (3 months to the day before 7
months): no 31 April, so the window opens on 1 May; 7 months old on 31 August, so it closes on
30 August; reminder point 30 August - 60 days = 1 July. April: `upcoming`, not a target. May:
invited, `entered`. A child of the same age moving in during June: invited in June,
`catch_up`. June: `due`. July: `non_attendee` (listed; July's reminder run writes the letter).
August: still `non_attendee` (listed, not reminded again). September: `window_closed`. A result
at any time: `attended`, off every list.
"""


@router.get(
    "/programmes",
    summary="Infant checkup programmes in force in a month, windows as data (乳幼児健康診査)",
)
async def programmes(
    session: Session, principal: CheckupReader, month: Month | None = None
) -> list[ProgrammeOut]:
    period = service.parse_period(month) if month else Period.current()
    rules = await service.programmes_in_force(session, period=period)
    return [ProgrammeOut.model_validate(rule) for rule in rules]


@router.post(
    "/extractions",
    status_code=status.HTTP_200_OK,
    responses=problem_responses(404),  # no such programme in force that month
    summary="Extract a month's targets as invitations (対象者抽出), idempotent, "
    "and count its non-attendees",
    description="One `INSERT ... SELECT` per run; re-running the month adds only newcomers "
    "(`invited`: by this run, `invited_total`: in the month). City-wide staff only.\n"
    + MONTH_RULES,
)
async def extract(body: ExtractionIn, session: Session, principal: CheckupWriter) -> ExtractionOut:
    if not principal.city_wide:
        # The extraction writes the whole city's invitations; ward staff read their ward's.
        raise Forbidden("extraction is a city-wide operation")
    extraction = await service.extract(
        session,
        programme=body.programme,
        period=service.parse_period(body.month),
        actor=principal.sub,
    )
    return ExtractionOut.model_validate(extraction)


@router.get(
    "/targets",
    responses=problem_responses(404),  # no such programme in force that month
    summary="The month's invited children (健診対象者; ward staff: their ward; logged)",
    description="The invitations the month's extraction recorded, with their reason."
    + PAGING
    + MONTH_RULES,
)
async def targets(
    session: Session,
    principal: CheckupReader,
    programme: ProgrammeCode,
    month: Month,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> TargetList:
    listed = await service.list_targets(
        session,
        principal=principal,
        programme=programme,
        period=service.parse_period(month),
        limit=limit,
        cursor=cursor,
    )
    items = [
        TargetOut(
            notice_id=n.id,
            person_no=n.person_no,
            name=p.full_name if p else None,
            birth_date=p.birth_date if p else None,
            ward_code=p.ward_code if p else n.ward_code,
            household_key=n.household_key,
            reason=n.reason,
            window_start=n.window_start,
            window_end=n.window_end,
        )
        for n, p in listed.invitations
    ]
    return TargetList(
        programme=listed.rule.code,
        month=str(listed.period),
        items=items,
        next_cursor=listed.next_cursor,
    )


@router.get(
    "/non-attendees",
    responses=problem_responses(404),  # no such programme in force that month
    summary="The month's non-attendees (未受診者): past the reminder point, no result (logged)",
    description="Computed from the data as it is now; `reminded_in` names the month of the "
    "child's reminder, if one was sent." + PAGING + MONTH_RULES,
)
async def non_attendees(
    session: Session,
    principal: CheckupReader,
    programme: ProgrammeCode,
    month: Month,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> NonAttendeeList:
    listed = await service.list_non_attendees(
        session,
        principal=principal,
        programme=programme,
        period=service.parse_period(month),
        limit=limit,
        cursor=cursor,
    )
    items = [
        NonAttendeeOut(
            person_no=c.person_no,
            name=f"{c.family_name} {c.given_name}",
            birth_date=c.birth_date,
            ward_code=c.ward_code,
            household_key=c.household_key,
            window_start=c.window_start,
            window_end=c.window_end,
            reminder_from=c.reminder_from,
            reminded_in=c.reminded_in,
        )
        for c in listed.children
    ]
    return NonAttendeeList(
        programme=listed.rule.code,
        month=str(listed.period),
        items=items,
        next_cursor=listed.next_cursor,
    )


@router.get(
    "/children/{person_no}",
    summary="A child's checkup status per programme as of a month (受診状況; logged)",
    description="Per programme: `upcoming` (the window opens after the month), `due`, "
    "`non_attendee`, `attended` (a result), `window_closed`, `not_resident`; the same status "
    "expression as the lists, so they agree on the boundary day.\n" + MONTH_RULES,
)
async def child_profile(
    person_no: PersonNo,
    session: Session,
    principal: CheckupReader,
    immunization: Immunization,
    month: Month | None = None,
) -> CheckupProfile:
    child = await service.profile(
        session,
        principal=principal,
        person_no=person_no,
        immunization=immunization,
        period=service.parse_period(month) if month else None,
    )
    return CheckupProfile(
        person_no=child.person.person_no,
        name=child.person.full_name,
        birth_date=child.person.birth_date,
        residence_status=child.person.residence_status,
        ward_code=child.person.ward_code,
        month=str(child.period),
        programmes=[
            ProgrammeStatus(
                programme=p.rule.code,
                name=p.rule.name,
                window_start=p.window.start,
                window_end=p.window.end,
                reminder_from=p.window.reminder_from,
                status=p.status,
                notices=[notice_out(n) for n in p.notices],
                result=result_out(p.result, p.voucher) if p.result else None,
            )
            for p in child.programmes
        ],
        vaccinations=child.vaccinations,
    )


@router.post(
    "/children/{person_no}/results",
    status_code=status.HTTP_201_CREATED,
    summary="Record a checkup result (健診結果); a detailed_exam judgement issues "
    "a voucher (精密健康診査受診票)",
)
async def record_result(
    person_no: PersonNo, body: ResultIn, session: Session, principal: CheckupWriter
) -> ResultOut:
    record, voucher = await service.record_result(
        session, principal=principal, person_no=person_no, result=body
    )
    return result_out(record, voucher)


@router.post(
    "/reminders/{notice_id}/follow-up",
    summary="Record a reminder's follow-up outcome (受診勧奨後の状況確認)",
)
async def follow_up(
    notice_id: UUID, body: FollowUpIn, session: Session, principal: CheckupWriter
) -> FollowUpOut:
    notice = await service.follow_up(
        session, principal=principal, notice_id=notice_id, outcome=body.outcome, note=body.note
    )
    return FollowUpOut.model_validate(notice)
