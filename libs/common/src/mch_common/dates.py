"""Today's date in the city, and the one age rule: every list, profile, due date and reminder
of every service uses it.

Legal ages (年齢計算ニ関スル法律, 民法143条): a period of N months counted from the birth date
ends on the day before the corresponding day of the Nth month, or, where that month has no
corresponding day, on that month's last day; the child is N months old from the next day.
So a child born 31 January is 3 months old from 1 May, one born 29 February 2024 is 3 years
old from 1 March 2027. Everything works on calendar dates in Asia/Tokyo, never on clock times.
"""

import calendar
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")
NEWBORN_DAYS = 28  # 新生児: under 28 days old
_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def today_tokyo(now: datetime | None = None) -> date:
    """The calendar date in the city (Asia/Tokyo), which decides what a date-bound rule means
    "today"; never the server's local date."""
    return (now or datetime.now(UTC)).astimezone(TOKYO).date()


def add_months_legal(birth: date, months: int) -> date:
    """The first day on which someone born on `birth` is `months` months old."""
    if months < 0:
        raise ValueError("months must not be negative")
    total = birth.month - 1 + months
    year, month = birth.year + total // 12, total % 12 + 1
    # Not calendar.monthrange, which also works out the weekday: a nightly run over 100,000
    # children calls this hundreds of thousands of times.
    last_day = 29 if month == 2 and calendar.isleap(year) else _MONTH_DAYS[month]
    if birth.day <= last_day:
        return date(year, month, birth.day)
    # No corresponding day: the period ends on the month's last day, so the next day.
    return date(year, month, last_day) + timedelta(days=1)


def add_years_legal(birth: date, years: int) -> date:
    return add_months_legal(birth, 12 * years)


def age_reached(
    birth: date, years: int = 0, months: int = 0, *, weeks: int = 0, days: int = 0
) -> date:
    """The first day on which someone born on `birth` is `years` years, `months` months,
    `weeks` weeks and `days` days old. Weeks and days count from the birth date as day 0 (生後6週
    is birth + 42 days) and run after the months: 2 months and 6 days is the 2-month day + 6."""
    if weeks < 0 or days < 0:
        raise ValueError("weeks and days must not be negative")
    return add_months_legal(birth, 12 * years + months) + timedelta(days=7 * weeks + days)


def months_old(birth: date, on: date) -> int:
    """Completed months of age on `on` (0 on the birth date); negative dates are refused."""
    if on < birth:
        raise ValueError("the date is before the birth date")
    months = (on.year - birth.year) * 12 + (on.month - birth.month)
    # The estimate is exact or one too high; step back while the anniversary is still ahead.
    while months > 0 and add_months_legal(birth, months) > on:
        months -= 1
    return months


def fiscal_year(on: date) -> int:
    """The Japanese fiscal year (年度) holding `on`: April to March, named by its April."""
    return on.year if on.month >= 4 else on.year - 1


def years_old(birth: date, on: date) -> int:
    """Completed years of age on `on`: `months_old(birth, on) // 12`, worked out from the
    dates (a year's anniversary is the birth's month and day, one born on 29 February a year
    older on 1 March of a common year, as `add_months_legal` has it): 1.5 -> 0.3 µs, on
    every notification."""
    if on < birth:
        raise ValueError("the date is before the birth date")
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def days_old(birth: date, on: date) -> int:
    return (on - birth).days


def is_newborn(birth: date, on: date) -> bool:
    """新生児: from birth to under 28 days old (day 0 is the birth date)."""
    return 0 <= days_old(birth, on) < NEWBORN_DAYS


def newborn_last_day(birth: date) -> date:
    return birth + timedelta(days=NEWBORN_DAYS - 1)


def school_entry_date(birth: date) -> date:
    """The day a child enters primary school (学校教育法17条): the first school year (from
    1 April) beginning after the day the child turns 6 in law. The day after that day is the
    first day of age 6, so a child born 1 April enters in the year of the 6th birthday, one born
    2 April a year later."""
    six = age_reached(birth, years=6)
    entry = date(six.year, 4, 1)
    return entry if entry >= six else date(six.year + 1, 4, 1)


def last_day_before_months(birth: date, months: int) -> date:
    """The last day on which the child is still under `months` months old."""
    return add_months_legal(birth, months) - timedelta(days=1)


# Japanese eras (元号) by their first day; a date before the next era's first day.
_ERAS = {"令和": date(2019, 5, 1), "平成": date(1989, 1, 8), "昭和": date(1926, 12, 25)}
_ERA_LETTERS = {"R": "令和", "H": "平成", "S": "昭和"}
_ERA_DATE = re.compile(
    r"^(令和|平成|昭和|[RHS])\s*(元|\d{1,2})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?$"
)
_WESTERN_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$|^(\d{4})(\d{2})(\d{2})$")


def parse_batch_date(text: str) -> date:
    """A date as batch files and windows write it: 2026-04-01, 2026/4/1, 20260401, 2026年4月1日,
    or in a Japanese era (令和8年4月1日, 令和元年5月1日, R8.4.1, H31/4/30), full-width digits
    included. Raises ValueError saying why, never quoting the text (it is a person's data)."""
    value = unicodedata.normalize("NFKC", text).strip().upper()
    western = _WESTERN_DATE.match(value)
    if western:
        year, month, day = (int(g) for g in western.groups() if g is not None)
        return _checked(year, month, day)
    era_date = _ERA_DATE.match(value)
    if not era_date:
        raise ValueError("not a date (YYYY-MM-DD, YYYYMMDD or 令和/平成 年月日)")
    era = _ERA_LETTERS.get(era_date[1], era_date[1])
    first = _ERAS[era]
    year = first.year + (0 if era_date[2] == "元" else int(era_date[2]) - 1)
    result = _checked(year, int(era_date[3]), int(era_date[4]))
    later = [start for start in _ERAS.values() if start > first]
    if result < first or (later and result >= min(later)):
        raise ValueError(f"no such date in {era}")
    return result


def _checked(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError("no such date") from None


# --- legal deadlines counted in days (開示決定等の期限) -------------------------------------------
#
# A period in days starts the day after the event (民法140条, 初日不算入) and ends at the end of
# its last day (141条); a last day that is a day the city's offices are closed moves to the
# next open day (142条; 地方自治法4条の2 and the city's 休日条例: Saturdays, Sundays, national
# holidays and 29 December to 3 January). So a request received on Friday 2 October 2026 has
# its 30-day deadline on Sunday 1 November, moved to Monday 2 November.


def is_office_closed(day: date) -> bool:
    """True on a day the city's offices are closed (地方公共団体の休日)."""
    if day.weekday() >= 5:
        return True
    if (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3):
        return True
    return day in _national_holidays(day.year)


def _national_holidays(year: int) -> frozenset[date]:
    cached = _HOLIDAYS.get(year)
    if cached is None:
        # Imported here: the holiday tables load per country at first use.
        import holidays

        cached = frozenset(holidays.country_holidays("JP", years=year))
        _HOLIDAYS[year] = cached
    return cached


_HOLIDAYS: dict[int, frozenset[date]] = {}


def deadline_in_days(start: date, days: int) -> date:
    """The last day of a period of `days` days counted from `start` (the day of receipt, not
    counted), moved past days the offices are closed."""
    if days < 1:
        raise ValueError("a period in days has at least one day")
    last = start + timedelta(days=days)
    while is_office_closed(last):
        last += timedelta(days=1)
    return last
