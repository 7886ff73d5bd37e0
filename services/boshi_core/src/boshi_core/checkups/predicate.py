"""The checkup predicate, in SQL: one candidate query (`with_child`) and one status expression
(`STATUS`), shared by the extraction and the month's lists (targets.py), the reminder run
(reminder_notices.py) and the child's profile, so they cannot disagree on a boundary day.
`legal_add_months` is created by migration 0003 and mirrors mch_common.dates.add_months_legal
(tests compare them day by day).

The predicate's parameters: :code, :start_months, :end_months, :reminder_days (the programme
version in force on the period's first day), :m1 and :ml (the period's first and last days).
"""

from typing import Any

from sqlalchemy import BindParameter, Date, Integer, String, TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.checkups.windows import Period, ProgrammeRule

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
HAS_RESULT = """(EXISTS (
    SELECT 1 FROM checkup_results r
    WHERE r.person_no = c.person_no AND r.programme_code = c.programme_code)
  OR EXISTS (
    SELECT 1 FROM previous_city_records pc
    WHERE pc.person_no = c.person_no AND pc.programme_code = c.programme_code AND pc.taken))"""

# The one status rule, evaluated for the month [:m1, :ml].
STATUS = f"""CASE
    WHEN {HAS_RESULT} THEN 'attended'
    WHEN c.window_start > CAST(:ml AS date) THEN 'upcoming'
    WHEN c.window_end < CAST(:m1 AS date) THEN 'window_closed'
    WHEN c.reminder_from <= CAST(:ml AS date) THEN 'non_attendee'
    ELSE 'due'
END"""


def bind_predicate(stmt: TextClause, *extra: str) -> TextClause:
    """`stmt` with the predicate's parameters typed, and each of `extra` as a string."""
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


def with_child(*, person: bool) -> str:
    return "WITH " + _CHILD.format(filter=_PERSON_FILTER if person else _COHORT_FILTER)


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
