"""Queries for infant checkups: programme versions, notices, results, vouchers.

The checkup predicate lives here in SQL: one candidate query and one status expression, shared
by the extraction, the non-attendee list, the reminder run and the child's profile, so they
cannot disagree on a boundary day. `legal_add_months` is created by migration 0003 and mirrors
mch_common.dates.add_months_legal (tests compare them day by day).

The predicate's parameters: :code, :start_months, :end_months, :reminder_days (the programme
version in force on the period's first day), :m1 and :ml (the period's first and last days).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BindParameter,
    Date,
    Integer,
    String,
    TextClause,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.checkups.models import (
    CheckupNotice,
    CheckupProgramme,
    CheckupResult,
    DetailedExamVoucher,
)
from boshi_core.checkups.windows import Period, ProgrammeRule
from boshi_core.paging import HouseholdKey
from boshi_core.people.models import Person
from boshi_core.suspensions.repository import suspended

# Residents only: moved-out, deceased and registered non-residents are never targets.
_CHILD = """
child AS (
    SELECT p.person_no,
           p.ward_code,
           p.household_no,
           p.family_name,
           p.given_name,
           p.birth_date,
           COALESCE(p.household_no, 'P' || p.person_no) AS household_key,
           CAST(:code AS varchar) AS programme_code,
           legal_add_months(p.birth_date, :start_months) AS window_start,
           legal_add_months(p.birth_date, :end_months) - 1 AS window_end,
           legal_add_months(p.birth_date, :end_months) - 1 - :reminder_days AS reminder_from
    FROM people p
    WHERE p.residence_status = 'resident'
      AND p.death_date IS NULL
      AND p.birth_date IS NOT NULL
      {filter}
)"""

# Birth-date bounds a few days wider than the exact rule, so the scan reads only the cohorts
# that can qualify, through the index on people.birth_date. Month arithmetic clamps month
# ends by at most 3 days and the legal rule adds at most 1, so 5 days of margin is safe (the
# tests compare the result with the Python predicate for every birth day).
_COHORT_FILTER = """
      AND p.birth_date > CAST(:m1 AS date) - make_interval(months => :end_months, days => 5)
      AND p.birth_date < CAST(:ml AS date) - make_interval(months => :start_months)
                         + interval '5 days'"""

_PERSON_FILTER = "AND p.person_no = :person_no"

# A checkup done in the previous city (its record came through the intermediate server,
# moving_in) counts as done: the child is not invited again.
_HAS_RESULT = """(EXISTS (
    SELECT 1 FROM checkup_results r
    WHERE r.person_no = c.person_no AND r.programme_code = c.programme_code)
  OR EXISTS (
    SELECT 1 FROM previous_city_records pc
    WHERE pc.person_no = c.person_no AND pc.programme_code = c.programme_code AND pc.taken))"""

# The one status rule, evaluated for the month [:m1, :ml].
_STATUS = f"""CASE
    WHEN {_HAS_RESULT} THEN 'attended'
    WHEN c.window_start > CAST(:ml AS date) THEN 'upcoming'
    WHEN c.window_end < CAST(:m1 AS date) THEN 'window_closed'
    WHEN c.reminder_from <= CAST(:ml AS date) THEN 'non_attendee'
    ELSE 'due'
END"""

_REMINDED_EARLIER = """EXISTS (
    SELECT 1 FROM checkup_notices n
    WHERE n.person_no = c.person_no AND n.programme_code = c.programme_code
      AND n.kind = 'reminder' AND n.period <> CAST(:m1 AS date))"""


def _params(stmt: TextClause, *extra: str) -> TextClause:
    binds: list[BindParameter[Any]] = [
        bindparam("code", type_=String),
        bindparam("start_months", type_=Integer),
        bindparam("end_months", type_=Integer),
        bindparam("reminder_days", type_=Integer),
        bindparam("m1", type_=Date),
        bindparam("ml", type_=Date),
    ]
    binds += [bindparam(name, type_=String) for name in extra]
    return stmt.bindparams(*binds)


def _with_child(*, person: bool) -> str:
    return "WITH " + _CHILD.format(filter=_PERSON_FILTER if person else _COHORT_FILTER)


# Invite once per programme: children whose window is open on some day of the month and who
# have no invitation and no result yet. Those whose window opens this month "entered"; the
# others (moved in mid-window, registered late, first run) are a "catch_up".
_EXTRACT_INVITATIONS = _params(
    text(
        _with_child(person=False)
        + f"""
INSERT INTO checkup_notices (id, person_no, programme_code, period, kind, reason, window_start,
                             window_end, ward_code, household_key, status)
SELECT gen_random_uuid(), c.person_no, c.programme_code, CAST(:m1 AS date), 'invitation',
       CASE WHEN c.window_start >= CAST(:m1 AS date) THEN 'entered' ELSE 'catch_up' END,
       c.window_start, c.window_end, c.ward_code, c.household_key, 'recorded'
FROM child c
WHERE c.window_start <= CAST(:ml AS date)
  AND c.window_end >= CAST(:m1 AS date)
  AND NOT EXISTS (
      SELECT 1 FROM checkup_notices n
      WHERE n.person_no = c.person_no AND n.programme_code = c.programme_code
        AND n.kind = 'invitation')
  AND NOT {_HAS_RESULT}
  AND NOT {suspended("invitations", "c.person_no")}
ON CONFLICT (person_no, programme_code, period, kind) DO NOTHING
"""
    )
)

_NON_ATTENDEES = (
    _with_child(person=False)
    + f""", scored AS (SELECT c.*, {_STATUS} AS status FROM child c)
SELECT s.person_no, s.ward_code, s.household_key, s.family_name, s.given_name, s.birth_date,
       s.programme_code, s.window_start, s.window_end, s.reminder_from,
       (SELECT to_char(min(n.period), 'YYYY-MM') FROM checkup_notices n
         WHERE n.person_no = s.person_no AND n.programme_code = s.programme_code
           AND n.kind = 'reminder') AS reminded_in
FROM scored s
WHERE s.window_start <= CAST(:ml AS date) AND s.window_end >= CAST(:m1 AS date)
  AND s.reminder_from <= CAST(:ml AS date)  -- cheap pre-filter; the status decides
  AND s.status = 'non_attendee' {{ward}}
  AND (COALESCE(s.ward_code, ''), s.household_key, s.person_no)
      > (:after_ward, :after_household, :after_person)
ORDER BY COALESCE(s.ward_code, ''), s.household_key, s.person_no
LIMIT :limit
"""
)
_PAGE = ("after_ward", "after_household", "after_person")
# A key below every row's (a household key is never empty): the first page.
_FIRST_PAGE: HouseholdKey = ("", "", "")

_NON_ATTENDEES_ALL = _params(text(_NON_ATTENDEES.format(ward="")), *_PAGE).bindparams(
    bindparam("limit", type_=Integer)
)
_NON_ATTENDEES_IN_WARD = _params(
    text(_NON_ATTENDEES.format(ward="AND s.ward_code = :ward_code")), "ward_code", *_PAGE
).bindparams(bindparam("limit", type_=Integer))

# The reminder run's children: this month's non-attendees not reminded in an earlier month.
_INSERT_REMINDERS = _params(
    text(
        _with_child(person=False)
        + f"""
INSERT INTO checkup_notices (id, person_no, programme_code, period, kind, reason, window_start,
                             window_end, ward_code, household_key, status, run_id)
SELECT gen_random_uuid(), c.person_no, c.programme_code, CAST(:m1 AS date), 'reminder',
       'non_attendee', c.window_start, c.window_end, c.ward_code, c.household_key, 'pending',
       CAST(:run_id AS uuid)
FROM child c
WHERE c.window_start <= CAST(:ml AS date) AND c.window_end >= CAST(:m1 AS date)
  AND c.reminder_from <= CAST(:ml AS date)  -- cheap pre-filter; the status decides
  AND {_STATUS} = 'non_attendee' AND NOT {_REMINDED_EARLIER}
  AND NOT {suspended("reminders", "c.person_no")}
ON CONFLICT (person_no, programme_code, period, kind) DO NOTHING
"""
    ),
    "run_id",
)

_PROFILE = _params(
    text(
        _with_child(person=True)
        + f"""
SELECT c.programme_code, c.window_start, c.window_end, c.reminder_from, {_STATUS} AS status
FROM child c
"""
    ),
    "person_no",
)


def _rule(row: CheckupProgramme) -> ProgrammeRule:
    return ProgrammeRule(
        code=row.code,
        name=row.name,
        start_months=row.start_months,
        end_months=row.end_months,
        reminder_days_before_end=row.reminder_days_before_end,
        detailed_exam_valid_days=row.detailed_exam_valid_days,
        effective_from=row.effective_from,
    )


async def rules_in_force(session: AsyncSession, on: date) -> list[ProgrammeRule]:
    """Every programme's version in force on `on`, in age order: per programme the newest
    version effective by then, unless that version has ended (`effective_to` before `on`)."""
    rows = (
        (
            await session.execute(
                select(CheckupProgramme)
                .where(CheckupProgramme.effective_from <= on)
                .order_by(CheckupProgramme.code, CheckupProgramme.effective_from.desc())
            )
        )
        .scalars()
        .all()
    )
    latest: dict[str, CheckupProgramme] = {}
    for row in rows:  # newest version first within each code
        latest.setdefault(row.code, row)
    in_force = (r for r in latest.values() if r.effective_to is None or r.effective_to >= on)
    return sorted((_rule(r) for r in in_force), key=lambda r: r.start_months)


async def rule_in_force(session: AsyncSession, code: str, on: date) -> ProgrammeRule | None:
    return next((r for r in await rules_in_force(session, on) if r.code == code), None)


def predicate_params(rule: ProgrammeRule, period: Period) -> dict[str, Any]:
    return {
        "code": rule.code,
        "start_months": rule.start_months,
        "end_months": rule.end_months,
        "reminder_days": rule.reminder_days_before_end,
        "m1": period.first,
        "ml": period.last,
    }


async def without_jit(session: AsyncSession) -> None:
    # These are index-driven queries over a few cohorts; PostgreSQL's cost estimate for the
    # correlated EXISTS checks triggers JIT compilation that costs more than the query itself.
    await session.execute(text("SET LOCAL jit = off"))


async def extract_invitations(session: AsyncSession, rule: ProgrammeRule, period: Period) -> int:
    await without_jit(session)
    result = await session.execute(_EXTRACT_INVITATIONS, predicate_params(rule, period))
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class NonAttendee:
    """A child past the reminder point of an open window, with no result."""

    person_no: str
    family_name: str
    given_name: str
    birth_date: date
    ward_code: str | None
    household_key: str
    window_start: date
    window_end: date
    reminder_from: date
    reminded_in: str | None  # YYYY-MM of the reminder, if one was sent


async def non_attendees(
    session: AsyncSession,
    rule: ProgrammeRule,
    period: Period,
    *,
    ward_code: str | None,
    after: HouseholdKey | None = None,
    limit: int | None = None,
) -> list[NonAttendee]:
    """In ward, household and person order, from after the key `after`; `limit` None: all."""
    await without_jit(session)
    params = predicate_params(rule, period) | {"limit": limit}
    params.update(zip(_PAGE, after or _FIRST_PAGE, strict=True))
    if ward_code is None:
        stmt = _NON_ATTENDEES_ALL
    else:
        stmt, params["ward_code"] = _NON_ATTENDEES_IN_WARD, ward_code
    rows = (await session.execute(stmt, params)).mappings()
    return [
        NonAttendee(
            person_no=row["person_no"],
            family_name=row["family_name"],
            given_name=row["given_name"],
            birth_date=row["birth_date"],
            ward_code=row["ward_code"],
            household_key=row["household_key"],
            window_start=row["window_start"],
            window_end=row["window_end"],
            reminder_from=row["reminder_from"],
            reminded_in=row["reminded_in"],
        )
        for row in rows
    ]


# The invitations' keyset order; migration 0017's index holds it, so a page is a range scan.
_NOTICE_KEY = (
    func.coalesce(CheckupNotice.ward_code, literal_column("''")),  # a literal, as indexed
    CheckupNotice.household_key,
    CheckupNotice.person_no,
)
_INVITATIONS = (
    select(CheckupNotice, Person)
    .join(Person, Person.person_no == CheckupNotice.person_no, isouter=True)
    .where(
        CheckupNotice.programme_code == bindparam("code", type_=String),
        CheckupNotice.period == bindparam("m1", type_=Date),
        CheckupNotice.kind == "invitation",
        tuple_(*_NOTICE_KEY)
        > tuple_(
            bindparam("after_ward", type_=String),
            bindparam("after_household", type_=String),
            bindparam("after_person", type_=String),
        ),
    )
    .order_by(*_NOTICE_KEY)
    .limit(bindparam("limit", type_=Integer))
)
_INVITATIONS_IN_WARD = _INVITATIONS.where(Person.ward_code == bindparam("ward_code", type_=String))


async def invitations(
    session: AsyncSession,
    rule: ProgrammeRule,
    period: Period,
    *,
    ward_code: str | None,
    after: HouseholdKey | None,
    limit: int,
) -> list[tuple[CheckupNotice, Person | None]]:
    """The month's invitations in ward, household and person order, from after `after`."""
    params: dict[str, Any] = {"code": rule.code, "m1": period.first, "limit": limit}
    params.update(zip(_PAGE, after or _FIRST_PAGE, strict=True))
    if ward_code is None:
        stmt = _INVITATIONS
    else:
        stmt, params["ward_code"] = _INVITATIONS_IN_WARD, ward_code
    return [(n, p) for n, p in (await session.execute(stmt, params))]


async def profile_statuses(
    session: AsyncSession, rule: ProgrammeRule, period: Period, person_no: str
) -> dict[str, Any] | None:
    params = predicate_params(rule, period) | {"person_no": person_no}
    row = (await session.execute(_PROFILE, params)).mappings().first()
    return dict(row) if row else None


async def notices_of(session: AsyncSession, person_no: str) -> list[CheckupNotice]:
    stmt = (
        select(CheckupNotice)
        .where(CheckupNotice.person_no == person_no)
        .order_by(CheckupNotice.period, CheckupNotice.kind)
    )
    return list((await session.execute(stmt)).scalars())


async def results_of(session: AsyncSession, person_no: str) -> list[CheckupResult]:
    stmt = select(CheckupResult).where(CheckupResult.person_no == person_no)
    return list((await session.execute(stmt)).scalars())


async def next_voucher_serial(session: AsyncSession) -> int:
    return int(
        (await session.execute(text("SELECT nextval('detailed_exam_voucher_seq')"))).scalar_one()
    )


async def insert_reminders(
    session: AsyncSession, rule: ProgrammeRule, period: Period, run_id: UUID
) -> int:
    """The month's non-attendees not reminded in an earlier month, as the run's pending
    reminders; returns how many were added."""
    params = predicate_params(rule, period) | {"run_id": str(run_id)}
    result = await session.execute(_INSERT_REMINDERS, params)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def invitation_count(session: AsyncSession, rule: ProgrammeRule, period: Period) -> int:
    stmt = (
        select(func.count())
        .select_from(CheckupNotice)
        .where(
            CheckupNotice.programme_code == rule.code,
            CheckupNotice.period == period.first,
            CheckupNotice.kind == "invitation",
        )
    )
    return int((await session.execute(stmt)).scalar_one())


async def vouchers_of(session: AsyncSession, person_no: str) -> list[DetailedExamVoucher]:
    stmt = select(DetailedExamVoucher).where(DetailedExamVoucher.person_no == person_no)
    return list((await session.execute(stmt)).scalars())


async def has_result(session: AsyncSession, person_no: str, programme_code: str) -> bool:
    stmt = select(CheckupResult.id).where(
        CheckupResult.person_no == person_no, CheckupResult.programme_code == programme_code
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def close_reminders(
    session: AsyncSession, person_no: str, programme_code: str, *, by: str
) -> None:
    """A result closes the child's non-attendance: unsent reminders are withdrawn, sent ones
    are followed up as attended."""
    same = (CheckupNotice.person_no == person_no, CheckupNotice.programme_code == programme_code)
    await session.execute(
        delete(CheckupNotice).where(
            *same, CheckupNotice.kind == "reminder", CheckupNotice.status == "pending"
        )
    )
    await session.execute(
        update(CheckupNotice)
        .where(*same, CheckupNotice.kind == "reminder", CheckupNotice.follow_up_outcome.is_(None))
        .values(follow_up_outcome="attended", follow_up_at=datetime.now(UTC), follow_up_by=by)
    )


async def notice_for_update(session: AsyncSession, notice_id: UUID) -> CheckupNotice | None:
    stmt = select(CheckupNotice).where(CheckupNotice.id == notice_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()
