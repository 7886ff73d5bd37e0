"""The SQL age predicate agrees with the Python one on every day, and the set-based extraction
selects exactly the children the Python predicate names, on month-end and 29 February cases."""

from datetime import date, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.checkups import repository, targets
from boshi_core.checkups.models import CheckupNotice
from boshi_core.checkups.service import extract
from boshi_core.checkups.windows import Period, is_non_attendee, is_target, window_for
from mch_common.dates import add_months_legal, age_reached
from mch_common.work import UnitOfWork

# The seeded checkup programmes (restored if a committed test emptied them).
pytestmark = pytest.mark.usefixtures("programmes")

MONTHS = (0, 1, 3, 6, 7, 12, 18, 24, 36, 48)


async def test_sql_legal_add_months_matches_python_every_day(db_session: AsyncSession) -> None:
    rows = (
        await db_session.execute(
            text(
                "SELECT d::date, m, legal_add_months(d::date, m) "
                "FROM generate_series(date '2023-01-01', date '2028-12-31', interval '1 day') d, "
                "unnest(CAST(:months AS int[])) m"
            ),
            {"months": list(MONTHS)},
        )
    ).all()
    assert len(rows) == 2192 * len(MONTHS)
    mismatches = [(b, m, got) for b, m, got in rows if got != add_months_legal(b, m)]
    assert mismatches == []


@pytest.mark.parametrize(
    ("birth", "years", "months", "reached"),
    [
        (date(2026, 1, 31), 0, 3, date(2026, 5, 1)),
        (date(2024, 2, 29), 3, 0, date(2027, 3, 1)),
        (date(2024, 2, 29), 1, 6, date(2025, 8, 29)),
        (date(2026, 8, 31), 0, 3, date(2026, 12, 1)),
        (date(2026, 4, 30), 0, 7, date(2026, 11, 30)),
    ],
)
def test_age_reached(birth: date, years: int, months: int, reached: date) -> None:
    assert age_reached(birth, years, months) == reached


async def _people_born_every_day(db: AsyncSession, first: date, last: date) -> dict[str, date]:
    await db.execute(
        text(
            """
            INSERT INTO people (person_no, version, residence_status, family_name, given_name,
                                birth_date, ward_code, address, household_no, last_event_type)
            SELECT lpad((3000000000 + (d::date - date '2000-01-01'))::text, 10, '0'), 1,
                   'resident', '北九', '子', d::date, '401064', '{}'::jsonb,
                   'H' || (d::date - date '2000-01-01'), 'atena.person.registered'
            FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d
            """
        ),
        {"first": first, "last": last},
    )
    await db.commit()
    births: dict[str, date] = {}
    day = first
    while day <= last:
        births[str(3000000000 + (day - date(2000, 1, 1)).days)] = day
        day += timedelta(days=1)
    return births


@pytest.mark.parametrize(
    "month", ["2026-02", "2027-02", "2027-03", "2028-02", "2028-03", "2026-05", "2026-12"]
)
async def test_extraction_and_non_attendees_match_python(
    db_session: AsyncSession, month: str
) -> None:
    period = Period.parse(month)
    births = await _people_born_every_day(db_session, date(2022, 1, 1), date(2028, 3, 31))
    for rule in await repository.rules_in_force(db_session, period.first):
        async with UnitOfWork.on(db_session):
            await extract(db_session, programme=rule.code, period=period)
        invited = set(
            (
                await db_session.execute(
                    select(CheckupNotice.person_no).where(
                        CheckupNotice.programme_code == rule.code,
                        CheckupNotice.period == period.first,
                        CheckupNotice.kind == "invitation",
                    )
                )
            ).scalars()
        )
        expected = {
            p
            for p, b in births.items()
            if b <= period.last and is_target(window_for(rule, b), period)
        }
        assert invited == expected, rule.code
        absent = {
            r.person_no
            for r in await targets.non_attendees(db_session, rule, period, ward_code=None)
        }
        expected_absent = {
            p for p, b in births.items() if is_non_attendee(window_for(rule, b), period)
        }
        assert absent == expected_absent, rule.code
        assert absent  # every month has some
