"""Infant checkups: extraction, lists, a child's profile, results and follow-up.

Every rule on who is due runs in SQL through checkups/predicate.py; the profile asks the same query
for one child, so the list, the profile and the letter agree on the boundary day.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core import events
from boshi_core.checkups import reminder_notices, repository, targets
from boshi_core.checkups.models import CheckupNotice, CheckupResult, DetailedExamVoucher
from boshi_core.checkups.schemas import ResultIn, Status
from boshi_core.checkups.windows import Period, ProgrammeRule, Window, window_for
from boshi_core.immunization.client import PROFILE_PURPOSE, ImmunizationClient, Vaccinations
from boshi_core.paging import next_household_cursor, parse_household_cursor
from boshi_core.people.models import Person
from boshi_core.people.service import person_in_scope
from boshi_core.wards import ward_digits
from mch_common.auth.principal import Principal
from mch_common.dates import fiscal_year, today_tokyo
from mch_common.errors import Conflict, InvalidInput, NotFound
from mch_common.work import UnitOfWork

PURPOSE = "母子保健法第12条・第13条 (infant checkups and reminders)"
BATCH_ACTOR = "batch:boshi_core.checkups"


@dataclass(frozen=True)
class Extraction:
    programme: str
    month: str
    invited: int  # by this run
    invited_total: int  # in the month
    non_attendees: int


@dataclass(frozen=True)
class Targets:
    """A page of the month's invitations, each with its child as the read model knows them
    now; `next_cursor` names the page after it (None: the last)."""

    rule: ProgrammeRule
    period: Period
    invitations: list[tuple[CheckupNotice, Person | None]]
    next_cursor: str | None


@dataclass(frozen=True)
class NonAttendees:
    """A page of the month's non-attendees (see `Targets`)."""

    rule: ProgrammeRule
    period: Period
    children: list[targets.NonAttendee]
    next_cursor: str | None


@dataclass(frozen=True)
class ProgrammeState:
    """One programme for one child: the window, the status as of the month, what was sent."""

    rule: ProgrammeRule
    window: Window
    status: Status
    notices: list[CheckupNotice]
    result: CheckupResult | None
    voucher: DetailedExamVoucher | None


@dataclass(frozen=True)
class ChildCheckups:
    person: Person
    period: Period
    programmes: list[ProgrammeState]
    vaccinations: Vaccinations  # from the immunization bridge, or why not


def parse_period(month: str) -> Period:
    try:
        return Period.parse(month)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


async def programmes_in_force(session: AsyncSession, *, period: Period) -> list[ProgrammeRule]:
    """Every programme's version in force on the period's first day, in age order."""
    return await repository.rules_in_force(session, period.first)


async def require_rule(session: AsyncSession, code: str, period: Period) -> ProgrammeRule:
    rule = await repository.rule_in_force(session, code, period.first)
    if rule is None:
        raise NotFound(f"no checkup programme {code!r} is in force in {period}")
    return rule


async def extract(
    session: AsyncSession, *, programme: str, period: Period, actor: str = BATCH_ACTOR
) -> Extraction:
    """The month's targets as invitation records (one set-based INSERT ... SELECT), and the
    size of its non-attendee list. Re-running the same month adds only newcomers."""
    rule = await require_rule(session, programme, period)
    out, _ = await extract_month(session, rule=rule, period=period, actor=actor)
    return out


async def extract_month(
    session: AsyncSession, *, rule: ProgrammeRule, period: Period, actor: str = BATCH_ACTOR
) -> tuple[Extraction, list[targets.NonAttendee]]:
    """`extract` for one programme version, also returning the non-attendee rows."""
    invited = await targets.extract_invitations(session, rule, period)
    total = await targets.invitation_count(session, rule, period)
    absent = await targets.non_attendees(session, rule, period, ward_code=None)
    UnitOfWork.of(session).record(
        actor=actor,
        action="checkup.extract",
        target_type="checkup_programme",
        target_id=rule.code,
        purpose=PURPOSE,
        detail={"month": str(period), "invited": invited, "non_attendees": len(absent)},
        persons=[row.person_no for row in absent],
    )
    out = Extraction(
        programme=rule.code,
        month=str(period),
        invited=invited,
        invited_total=total,
        non_attendees=len(absent),
    )
    return out, absent


async def _audit_list(
    session: AsyncSession,
    principal: Principal,
    action: str,
    rule: ProgrammeRule,
    period: Period,
    person_nos: list[str],
) -> None:
    # One access record per list view, naming every child shown.
    UnitOfWork.of(session).record_access(
        principal,
        action=action,
        target_type="checkup_programme",
        target_id=rule.code,
        purpose=PURPOSE,
        detail={"month": str(period), "count": len(person_nos)},
        persons=person_nos,
    )


async def list_targets(
    session: AsyncSession,
    *,
    principal: Principal,
    programme: str,
    period: Period,
    limit: int = 50,
    cursor: str | None = None,
) -> Targets:
    """A page of the month's invitations in ward, household and person order (the ward's
    children for ward staff), after the key `cursor` names."""
    after = parse_household_cursor(cursor)
    rule = await require_rule(session, programme, period)
    rows = await targets.invitations(
        session, rule, period, ward_code=principal.ward, after=after, limit=limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    await _audit_list(
        session, principal, "checkup.targets.view", rule, period, [n.person_no for n, _ in page]
    )
    last = page[-1][0] if more else None
    return Targets(
        rule=rule,
        period=period,
        invitations=page,
        next_cursor=next_household_cursor(
            (last.ward_code or "", last.household_key, last.person_no) if last else None
        ),
    )


async def list_non_attendees(
    session: AsyncSession,
    *,
    principal: Principal,
    programme: str,
    period: Period,
    limit: int = 50,
    cursor: str | None = None,
) -> NonAttendees:
    """A page of the month's non-attendees, in the targets' order and paging."""
    after = parse_household_cursor(cursor)
    rule = await require_rule(session, programme, period)
    rows = await targets.non_attendees(
        session, rule, period, ward_code=principal.ward, after=after, limit=limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    await _audit_list(
        session,
        principal,
        "checkup.non_attendees.view",
        rule,
        period,
        [r.person_no for r in page],
    )
    last = page[-1] if more else None
    return NonAttendees(
        rule=rule,
        period=period,
        children=page,
        next_cursor=next_household_cursor(
            (last.ward_code or "", last.household_key, last.person_no) if last else None
        ),
    )


async def profile(
    session: AsyncSession,
    *,
    principal: Principal,
    person_no: str,
    immunization: ImmunizationClient,
    period: Period | None = None,
) -> ChildCheckups:
    """The child's checkups per programme and, beside them, their vaccinations as the
    immunization bridge computes them (an `unavailable` marker when it does not answer)."""
    person = await person_in_scope(session, principal, person_no)
    if person.birth_date is None:
        raise InvalidInput(f"person {person_no} has no birth date in the read model")
    vaccinations = await immunization.vaccinations(person_no, purpose=PROFILE_PURPOSE)
    period = period or Period.current()
    notices = await repository.notices_of(session, person_no)
    results = {r.programme_code: r for r in await repository.results_of(session, person_no)}
    vouchers = {v.result_id: v for v in await repository.vouchers_of(session, person_no)}
    programmes: list[ProgrammeState] = []
    for rule in await repository.rules_in_force(session, period.first):
        row = await targets.profile_statuses(session, rule, period, person_no)
        result = results.get(rule.code)
        programmes.append(
            ProgrammeState(
                rule=rule,
                window=window_for(rule, person.birth_date),
                status=row["status"] if row else "not_resident",
                notices=[n for n in notices if n.programme_code == rule.code],
                result=result,
                voucher=vouchers.get(result.id) if result else None,
            )
        )
    UnitOfWork.of(session).record_access(
        principal,
        action="checkup.profile.view",
        target_type="person",
        target_id=person_no,
        purpose=PURPOSE,
        detail={"month": str(period)},
    )
    return ChildCheckups(
        person=person, period=period, programmes=programmes, vaccinations=vaccinations
    )


async def record_result(
    session: AsyncSession, *, principal: Principal, person_no: str, result: ResultIn
) -> tuple[CheckupResult, DetailedExamVoucher | None]:
    """Record a checkup result. It closes the child's non-attendance for the programme: the
    child leaves the non-attendee list, unsent reminders are withdrawn and sent ones are
    followed up as attended. A referral (要精密) issues a detailed-examination voucher."""
    person = await person_in_scope(session, principal, person_no)
    today = today_tokyo()
    if result.examined_on > today:
        raise InvalidInput("examined_on is in the future")
    if person.birth_date is not None and result.examined_on < person.birth_date:
        raise InvalidInput("examined_on is before the child's birth date")
    if result.judgement != "detailed_exam" and result.detailed_exam_reason:
        raise InvalidInput("detailed_exam_reason is only for a detailed_exam judgement")
    if await repository.has_result(session, person_no, result.programme):
        raise Conflict(f"a {result.programme} checkup result is already recorded for {person_no}")
    record = CheckupResult(
        person_no=person_no,
        programme_code=result.programme,
        examined_on=result.examined_on,
        institution=result.institution,
        ward_code=person.ward_code,
        **result.measurements.model_dump(),
        development=dict(result.development),
        findings=result.findings,
        judgement=result.judgement,
        next_action=result.next_action,
        recorded_by=principal.sub,
    )
    session.add(record)
    await session.flush()
    voucher: DetailedExamVoucher | None = None
    if result.judgement == "detailed_exam":
        # Valid for the days of the programme version in force on the issue date.
        in_force = await repository.rule_in_force(session, result.programme, today)
        if in_force is None:
            raise InvalidInput(f"the {result.programme} programme is not in force on {today}")
        serial = await repository.next_voucher_serial(session)
        ward = ward_digits(person.ward_code) if person.ward_code else "00"
        voucher = DetailedExamVoucher(
            voucher_no=f"{fiscal_year(today)}{ward}{serial:06d}",
            result_id=record.id,
            person_no=person_no,
            issued_on=today,
            valid_until=today + timedelta(days=in_force.detailed_exam_valid_days),
            reason=result.detailed_exam_reason,
        )
        session.add(voucher)
    await reminder_notices.close_reminders(session, person_no, result.programme, by=principal.sub)
    await session.flush()
    UnitOfWork.of(session).record_access(
        principal,
        action="checkup.result.record",
        target_type="person",
        target_id=person_no,
        purpose=PURPOSE,
        detail={"programme": result.programme, "judgement": result.judgement},
    )
    events.INFANT_CHECKUP_RECORDED.emit(
        UnitOfWork.of(session),
        subject=str(record.id),
        tenant=principal.tenant,
        data=events.InfantCheckupRecorded(
            person_no=person_no,
            programme=result.programme,
            examined_on=result.examined_on,
            judgement=result.judgement,
        ),
    )
    return record, voucher


async def follow_up(
    session: AsyncSession,
    *,
    principal: Principal,
    notice_id: UUID,
    outcome: str,
    note: str | None,
) -> CheckupNotice:
    notice = await repository.notice_for_update(session, notice_id)
    if notice is None or notice.kind != "reminder":
        raise NotFound(f"reminder {notice_id} does not exist")
    await person_in_scope(session, principal, notice.person_no)
    if notice.status != "sent":
        raise Conflict(f"reminder {notice_id} has not been sent yet")
    notice.follow_up_outcome = outcome
    notice.follow_up_note = note
    notice.follow_up_at = datetime.now(UTC)
    notice.follow_up_by = principal.sub
    await session.flush()
    UnitOfWork.of(session).record_access(
        principal,
        action="checkup.reminder.follow_up",
        target_type="person",
        target_id=notice.person_no,
        purpose=PURPOSE,
        detail={"notice_id": str(notice_id), "outcome": outcome},
    )
    return notice
