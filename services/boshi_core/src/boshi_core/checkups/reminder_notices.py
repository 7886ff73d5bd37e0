"""The checkup side of reminders: the run's pending reminders for the month's non-attendees
(through the predicate, predicate.py), and a result closing a child's reminders."""

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.checkups.models import CheckupNotice
from boshi_core.checkups.predicate import STATUS, bind_predicate, predicate_params, with_child
from boshi_core.checkups.windows import Period, ProgrammeRule
from boshi_core.suspensions.repository import suspended

_REMINDED_EARLIER = """EXISTS (
    SELECT 1 FROM checkup_notices n
    WHERE n.person_no = c.person_no AND n.programme_code = c.programme_code
      AND n.kind = 'reminder' AND n.period <> CAST(:m1 AS date))"""

# The reminder run's children: this month's non-attendees not reminded in an earlier month.
_INSERT_REMINDERS = bind_predicate(
    text(
        with_child(person=False)
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
  AND NOT {suspended("reminders", "c.person_no")}
ON CONFLICT (person_no, programme_code, period, kind) DO NOTHING
"""
    ),
    "run_id",
)


async def insert_reminders(
    session: AsyncSession, rule: ProgrammeRule, period: Period, run_id: UUID
) -> int:
    """The month's non-attendees not reminded in an earlier month, as the run's pending
    reminders; returns how many were added."""
    params = predicate_params(rule, period) | {"run_id": str(run_id)}
    result = await session.execute(_INSERT_REMINDERS, params)
    return int(result.rowcount)  # type: ignore[attr-defined]


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
