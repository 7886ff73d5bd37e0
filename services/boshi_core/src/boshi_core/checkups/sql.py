"""The checkup predicate in SQL: one candidate query and one status expression, shared by the
extraction, the non-attendee list, the reminder run and the child's profile, so they cannot
disagree on a boundary day. `legal_add_months` is created by migration 0003 and mirrors
mch_common.dates.add_months_legal (tests compare them day by day).

Parameters: :code, :start_months, :end_months, :reminder_days (the programme version in force
on the period's first day), :m1 and :ml (the period's first and last days).
"""

from typing import Any

from sqlalchemy import BindParameter, Date, Integer, String, TextClause, bindparam, text

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

_HAS_RESULT = """EXISTS (
    SELECT 1 FROM checkup_results r
    WHERE r.person_no = c.person_no AND r.programme_code = c.programme_code)"""

# The one status rule, evaluated for the month [:m1, :ml].
STATUS = f"""CASE
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
EXTRACT_INVITATIONS = _params(
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
ON CONFLICT (person_no, programme_code, period, kind) DO NOTHING
"""
    )
)

_NON_ATTENDEES = (
    _with_child(person=False)
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
ORDER BY s.ward_code, s.household_key, s.person_no
"""
)

NON_ATTENDEES = _params(text(_NON_ATTENDEES.format(ward="")))
NON_ATTENDEES_IN_WARD = _params(
    text(_NON_ATTENDEES.format(ward="AND s.ward_code = :ward_code")), "ward_code"
)

# The reminder run's children: this month's non-attendees not reminded in an earlier month.
INSERT_REMINDERS = _params(
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
  AND {STATUS} = 'non_attendee' AND NOT {_REMINDED_EARLIER}
ON CONFLICT (person_no, programme_code, period, kind) DO NOTHING
"""
    ),
    "run_id",
)

PROFILE = _params(
    text(
        _with_child(person=True)
        + f"""
SELECT c.programme_code, c.window_start, c.window_end, c.reminder_from, {STATUS} AS status
FROM child c
"""
    ),
    "person_no",
)
