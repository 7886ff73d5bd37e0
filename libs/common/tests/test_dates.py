from datetime import UTC, date, datetime, timedelta

import pytest

from mch_common.dates import (
    add_months_legal,
    add_years_legal,
    age_reached,
    is_newborn,
    last_day_before_months,
    months_old,
    newborn_last_day,
    parse_batch_date,
    school_entry_date,
    today_tokyo,
    years_old,
)


@pytest.mark.parametrize(
    ("birth", "months", "attained"),
    [
        (date(2026, 1, 15), 3, date(2026, 4, 15)),  # DOMAIN.md: born 15 Jan
        (date(2026, 1, 31), 3, date(2026, 5, 1)),  # no 31 April: 30 April ends the period
        (date(2026, 1, 31), 1, date(2026, 3, 1)),  # no 31 Feb (2026 not leap)
        (date(2024, 1, 31), 1, date(2024, 3, 1)),  # 29 Feb 2024 ends the period
        (date(2024, 1, 30), 1, date(2024, 3, 1)),
        (date(2024, 1, 29), 1, date(2024, 2, 29)),
        (date(2026, 10, 31), 4, date(2027, 3, 1)),  # across the year, into February
        (date(2026, 8, 31), 4, date(2026, 12, 31)),
        (date(2024, 2, 29), 36, date(2027, 3, 1)),  # DOMAIN.md: 3 years old from 1 March 2027
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2026, 3, 1), 0, date(2026, 3, 1)),
    ],
)
def test_add_months_legal(birth: date, months: int, attained: date) -> None:
    assert add_months_legal(birth, months) == attained
    assert months_old(birth, attained) == months
    if months:
        assert months_old(birth, date.fromordinal(attained.toordinal() - 1)) == months - 1


def test_years_old_is_completed_months_in_whole_years() -> None:
    """years_old works the age out from the dates; months_old steps by legal months."""
    for birth in (date(2000, 1, 1) + timedelta(days=n) for n in range(366)):
        for years in range(0, 31, 3):
            anniversary = add_months_legal(birth, 12 * years)
            for on in (anniversary + timedelta(days=d) for d in range(-2, 3)):
                if on >= birth:
                    assert years_old(birth, on) == months_old(birth, on) // 12, (birth, on)
    with pytest.raises(ValueError, match="before the birth date"):
        years_old(date(2020, 5, 1), date(2020, 4, 30))


def test_years_old_on_29_february_births() -> None:
    birth = date(2024, 2, 29)
    assert add_years_legal(birth, 3) == date(2027, 3, 1)
    assert years_old(birth, date(2027, 2, 28)) == 2
    assert years_old(birth, date(2027, 3, 1)) == 3
    assert years_old(birth, date(2028, 2, 29)) == 4


def test_months_old_refuses_a_date_before_birth() -> None:
    with pytest.raises(ValueError, match="before the birth"):
        months_old(date(2026, 5, 1), date(2026, 4, 30))


def test_newborn_window_is_under_28_days() -> None:
    birth = date(2026, 2, 10)
    assert is_newborn(birth, birth)
    assert is_newborn(birth, date(2026, 3, 9))  # day 27
    assert not is_newborn(birth, date(2026, 3, 10))  # day 28: no longer a newborn
    assert newborn_last_day(birth) == date(2026, 3, 9)


@pytest.mark.parametrize(
    ("birth", "last_day_under_4_months"),
    [
        (date(2026, 1, 15), date(2026, 5, 14)),
        (date(2025, 10, 31), date(2026, 2, 28)),  # 4 months old from 1 March
        (date(2023, 10, 31), date(2024, 2, 29)),  # leap year: from 1 March too
        (date(2023, 10, 29), date(2024, 2, 28)),  # 29 Feb 2024 is the anniversary
        (date(2026, 11, 30), date(2027, 3, 29)),
    ],
)
def test_last_day_before_4_months(birth: date, last_day_under_4_months: date) -> None:
    assert last_day_before_months(birth, 4) == last_day_under_4_months
    assert months_old(birth, last_day_under_4_months) == 3
    assert months_old(birth, date.fromordinal(last_day_under_4_months.toordinal() + 1)) == 4


def test_today_is_a_tokyo_date() -> None:
    # 15:30 UTC on 31 March is already 1 April in Tokyo.
    assert today_tokyo(datetime(2026, 3, 31, 15, 30, tzinfo=UTC)) == date(2026, 4, 1)


@pytest.mark.parametrize(
    ("birth", "weeks", "days", "reached"),
    [
        (date(2026, 1, 1), 6, 0, date(2026, 2, 12)),  # 生後6週0日: day 42 counting birth as 0
        (date(2026, 1, 1), 14, 6, date(2026, 4, 15)),  # 14週6日: rotavirus dose 1 by then
        (date(2024, 2, 29), 0, 1, date(2024, 3, 1)),
    ],
)
def test_age_reached_in_weeks_and_days(birth: date, weeks: int, days: int, reached: date) -> None:
    assert age_reached(birth, weeks=weeks, days=days) == reached


def test_age_reached_counts_days_after_the_legal_months() -> None:
    # Born 31 January: 1 month old from 1 March (February has no 31st), then 6 days on.
    assert age_reached(date(2026, 1, 31), months=1, days=6) == date(2026, 3, 7)
    with pytest.raises(ValueError, match="negative"):
        age_reached(date(2026, 1, 31), days=-1)


@pytest.mark.parametrize(
    ("birth", "entry"),
    [
        (date(2019, 4, 1), date(2025, 4, 1)),  # 早生まれ: 6 in law from 1 April 2025
        (date(2019, 4, 2), date(2026, 4, 1)),
        (date(2020, 2, 29), date(2026, 4, 1)),
        (date(2019, 12, 31), date(2026, 4, 1)),
    ],
)
def test_school_entry_date(birth: date, entry: date) -> None:
    assert school_entry_date(birth) == entry


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("2026-04-01", date(2026, 4, 1)),
        ("２０２６／４／１", date(2026, 4, 1)),
        ("20260401", date(2026, 4, 1)),
        ("2024年2月29日", date(2024, 2, 29)),
        ("令和8年4月1日", date(2026, 4, 1)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("Ｒ８．４．１", date(2026, 4, 1)),
        ("h31/4/30", date(2019, 4, 30)),
        ("平成元年1月8日", date(1989, 1, 8)),
    ],
)
def test_parse_batch_date(text: str, parsed: date) -> None:
    assert parse_batch_date(text) == parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-02-29", "no such date"),
        ("令和8年2月30日", "no such date"),
        ("平成31年5月1日", "no such date in 平成"),  # 令和 from 1 May 2019
        ("令和元年4月30日", "no such date in 令和"),
        ("04/01/2026", "not a date"),
        ("", "not a date"),
    ],
)
def test_parse_batch_date_says_why_without_the_value(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as raised:
        parse_batch_date(text)
    assert text not in str(raised.value) or not text


def test_a_deadline_in_days_skips_the_days_the_offices_are_closed() -> None:
    from mch_common.dates import deadline_in_days, is_office_closed

    # The day of receipt is not counted (民法140条).
    assert deadline_in_days(date(2026, 6, 1), 30) == date(2026, 7, 1)
    # Day 30 on a Sunday (10 May 2026) moves to Monday.
    assert deadline_in_days(date(2026, 4, 10), 30) == date(2026, 5, 11)
    # Day 30 on 6 May 2026, a substitute holiday (3 May was a Sunday): 7 May.
    assert deadline_in_days(date(2026, 4, 6), 30) == date(2026, 5, 7)
    # Day 30 in the year-end closure (29 December to 3 January): the first open day.
    assert deadline_in_days(date(2026, 12, 1), 30) == date(2027, 1, 4)
    assert not is_office_closed(date(2026, 11, 2))
    assert is_office_closed(date(2026, 11, 3))  # 文化の日
    with pytest.raises(ValueError, match="at least one day"):
        deadline_in_days(date(2026, 6, 1), 0)
