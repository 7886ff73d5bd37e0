"""Each dose's status from the rules and the record history alone: the windows' first and last
day (born on the 31st, on 29 February), intervals, a backdated dose, a schedule version taking
effect on its date. The rules are the migration's seed, so the tests check the shipped data."""

from datetime import date, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from immunization_bridge.schedule.repository import all_rules
from immunization_bridge.schedule.rules import (
    DoseGiven,
    DoseRule,
    DoseState,
    Schedule,
    dose_statuses,
)

RULES: list[DoseRule] = []


@pytest.fixture(autouse=True)
async def shipped_rules(db_session: AsyncSession) -> None:
    """The rules as the migration seeded them."""
    if not RULES:
        RULES.extend(await all_rules(db_session))


def status(
    birth: date, on: date, vaccine: str, dose_no: int, *given: DoseGiven, resident: bool = True
) -> tuple[DoseState, date | None, date | None, date]:
    (found,) = [
        s
        for s in dose_statuses(birth=birth, rules=RULES, given=given, on=on, resident=resident)
        if (s.vaccine, s.dose_no) == (vaccine, dose_no)
    ]
    return found.state, found.window_start, found.overdue_from, found.last_day


def test_born_on_the_31st_the_2_month_window_opens_on_the_1st() -> None:
    # Born 31 December: 2 months old from 1 March (February has no 31st), not 28 February.
    birth = date(2025, 12, 31)
    assert status(birth, date(2026, 2, 28), "dpt_ipv_hib", 1)[0] is DoseState.NOT_YET_DUE
    state, start, overdue, last_day = status(birth, date(2026, 3, 1), "dpt_ipv_hib", 1)
    assert (state, start) == (DoseState.DUE, date(2026, 3, 1))
    # 7 months old from 31 July: the standard period's last day is 30 July.
    assert overdue == date(2026, 7, 31)
    assert status(birth, date(2026, 7, 30), "dpt_ipv_hib", 1)[0] is DoseState.DUE
    assert status(birth, date(2026, 7, 31), "dpt_ipv_hib", 1)[0] is DoseState.OVERDUE
    # Under 90 months: June 2033 has no 31st, so 7 years 6 months old from 1 July.
    assert last_day == date(2033, 6, 30)
    assert status(birth, last_day, "dpt_ipv_hib", 1)[0] is DoseState.OVERDUE
    assert status(birth, date(2033, 7, 1), "dpt_ipv_hib", 1)[0] is DoseState.NOT_APPLICABLE


def test_born_on_29_february_the_bcg_window_ends_on_28_february() -> None:
    birth = date(2024, 2, 29)
    state, start, overdue, last_day = status(birth, birth, "bcg", 1)
    assert (state, start) == (DoseState.DUE, birth)  # from birth
    assert overdue == date(2024, 10, 29)  # 8 months: the standard period is 5 to 8 months
    assert last_day == date(2025, 2, 28)  # 1 year old from 1 March 2025
    assert status(birth, date(2025, 2, 28), "bcg", 1)[0] is DoseState.OVERDUE
    assert status(birth, date(2025, 3, 1), "bcg", 1)[0] is DoseState.NOT_APPLICABLE
    # MR 1st: from 1 year (1 March 2025) to under 2 (last day 28 February 2026).
    _, mr_start, _, mr_last = status(birth, date(2025, 3, 1), "mr", 1)
    assert (mr_start, mr_last) == (date(2025, 3, 1), date(2026, 2, 28))


def test_rotavirus_first_dose_by_14_weeks_6_days() -> None:
    birth = date(2026, 1, 1)
    assert status(birth, date(2026, 2, 11), "rotavirus", 1)[0] is DoseState.NOT_YET_DUE
    state, start, overdue, last_day = status(birth, date(2026, 2, 12), "rotavirus", 1)
    assert (state, start, overdue, last_day) == (
        DoseState.DUE,
        date(2026, 2, 12),  # 6 weeks 0 days
        None,
        date(2026, 4, 15),  # 14 weeks 6 days
    )
    assert status(birth, date(2026, 4, 16), "rotavirus", 1)[0] is DoseState.NOT_APPLICABLE


def test_mr_second_dose_is_the_school_year_before_primary_school() -> None:
    birth = date(2020, 4, 1)  # enters school 1 April 2026
    state, start, _, last_day = status(birth, date(2025, 4, 1), "mr", 2)
    assert (state, start, last_day) == (DoseState.DUE, date(2025, 4, 1), date(2026, 3, 31))
    assert status(birth, date(2025, 3, 31), "mr", 2)[0] is DoseState.NOT_YET_DUE


def test_a_later_dose_waits_for_the_earlier_one_and_its_interval() -> None:
    birth = date(2025, 1, 15)
    on = date(2025, 5, 1)
    assert status(birth, on, "hepb", 2)[:2] == (DoseState.NOT_YET_DUE, None)
    first = DoseGiven("hepb", 1, date(2025, 4, 20))
    state, start, _, _ = status(birth, on, "hepb", 2, first)
    assert (state, start) == (DoseState.NOT_YET_DUE, date(2025, 5, 17))  # 27 days after
    assert status(birth, date(2025, 5, 17), "hepb", 2, first)[0] is DoseState.DUE
    # The 3rd counts 139 days from the 1st, not from the 2nd.
    second = DoseGiven("hepb", 2, date(2025, 5, 20))
    assert status(birth, on, "hepb", 3, first, second)[1] == date(2025, 9, 6)


def test_a_backdated_dose_changes_what_is_due() -> None:
    birth = date(2025, 1, 15)
    on = date(2025, 5, 20)
    late_record = DoseGiven("pcv", 1, date(2025, 5, 19))
    assert status(birth, on, "pcv", 2, late_record)[0] is DoseState.NOT_YET_DUE
    # The register corrects the date: the dose was given in March. The 2nd is due today.
    backdated = DoseGiven("pcv", 1, date(2025, 3, 20))
    state, start, _, _ = status(birth, on, "pcv", 2, backdated)
    assert (state, start) == (DoseState.DUE, date(2025, 4, 16))
    assert status(birth, on, "pcv", 1, backdated)[0] is DoseState.COMPLETE


def test_the_five_in_one_takes_effect_on_1_april_2024() -> None:
    birth = date(2023, 12, 1)

    def vaccines(on: date) -> set[str]:
        return {s.vaccine for s in dose_statuses(birth=birth, rules=RULES, given=(), on=on)}

    assert {"dpt_ipv", "hib"} <= vaccines(date(2024, 3, 31))
    assert "dpt_ipv_hib" not in vaccines(date(2024, 3, 31))
    assert "dpt_ipv_hib" in vaccines(date(2024, 4, 1))
    assert not {"dpt_ipv", "hib"} & vaccines(date(2024, 4, 1))


def test_a_child_no_longer_resident_has_nothing_due() -> None:
    birth = date(2025, 1, 15)
    given = DoseGiven("bcg", 1, date(2025, 6, 1))
    doses = dose_statuses(
        birth=birth, rules=RULES, given=[given], on=date(2025, 9, 1), resident=False
    )
    assert {s.state for s in doses} == {DoseState.COMPLETE, DoseState.NOT_APPLICABLE}
    assert [s.vaccine for s in doses if s.state is DoseState.COMPLETE] == ["bcg"]


def test_the_nightly_overdue_shortcut_agrees_with_the_full_statuses() -> None:
    schedule = Schedule(RULES, date(2026, 12, 2))
    records = [
        (),
        (DoseGiven("pcv", 1, date(2025, 3, 20)),),
        (DoseGiven("hepb", 1, date(2025, 4, 1)), DoseGiven("dpt_ipv_hib", 1, date(2025, 4, 1))),
    ]
    for days in range(0, 13 * 365, 37):
        birth = date(2026, 12, 1) - timedelta(days=days)
        for given in records:
            for resident in (True, False):
                full = schedule.statuses(birth, given, resident=resident)
                overdue = schedule.overdue(birth, given, resident=resident)
                assert sorted(overdue) == sorted(s for s in full if s.state is DoseState.OVERDUE)
