"""Who is due: the month's extraction of invitations, the targets' and non-attendees' lists
in ward, household and person order (keyset-paged), and one child's status per programme, all
through the predicate (predicate.py)."""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Date, Integer, String, bindparam, func, literal_column, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.checkups.models import CheckupNotice
from boshi_core.checkups.predicate import (
    HAS_RESULT,
    STATUS,
    bind_predicate,
    predicate_params,
    with_child,
    without_jit,
)
from boshi_core.checkups.windows import Period, ProgrammeRule
from boshi_core.paging import HouseholdKey
from boshi_core.people.models import Person
from boshi_core.suspensions.repository import suspended

# Invite once per programme: children whose window is open on some day of the month and who
# have no invitation and no result yet. Those whose window opens this month "entered"; the
# others (moved in mid-window, registered late, first run) are a "catch_up".
_EXTRACT_INVITATIONS = bind_predicate(
    text(
        with_child(person=False)
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
  AND NOT {HAS_RESULT}
  AND NOT {suspended("invitations", "c.person_no")}
ON CONFLICT (person_no, programme_code, period, kind) DO NOTHING
"""
    )
)

_NON_ATTENDEES = (
    with_child(person=False)
    + f""", scored AS (SELECT c.*, {STATUS} AS status FROM child c)
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

_NON_ATTENDEES_ALL = bind_predicate(text(_NON_ATTENDEES.format(ward="")), *_PAGE).bindparams(
    bindparam("limit", type_=Integer)
)
_NON_ATTENDEES_IN_WARD = bind_predicate(
    text(_NON_ATTENDEES.format(ward="AND s.ward_code = :ward_code")), "ward_code", *_PAGE
).bindparams(bindparam("limit", type_=Integer))

_PROFILE = bind_predicate(
    text(
        with_child(person=True)
        + f"""
SELECT c.programme_code, c.window_start, c.window_end, c.reminder_from, {STATUS} AS status
FROM child c
"""
    ),
    "person_no",
)


async def extract_invitations(session: AsyncSession, rule: ProgrammeRule, period: Period) -> int:
    await without_jit(session)
    result = await session.execute(_EXTRACT_INVITATIONS, predicate_params(rule, period))
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
