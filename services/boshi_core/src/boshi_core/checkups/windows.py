"""Checkup windows and the month-based predicates, in Python, on top of mch_common.dates.

The same rules run in SQL (checkups/predicate.py, the `legal_add_months` function created by
migration 0003); tests check that both agree on every boundary day.
"""

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from mch_common.dates import add_months_legal, today_tokyo

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class ProgrammeRule:
    """One version of a checkup programme (a row of checkup_programmes)."""

    code: str
    name: str
    start_months: int  # the window opens the day the child reaches this age
    end_months: int  # and closes the day before the child reaches this age
    reminder_days_before_end: int  # non-attendee from this many days before the window closes
    detailed_exam_valid_days: int  # a detailed-examination voucher issued under it is valid
    effective_from: date


@dataclass(frozen=True)
class Window:
    start: date
    end: date  # inclusive: the last day a checkup counts for the programme
    reminder_from: date


def window_for(rule: ProgrammeRule, birth: date) -> Window:
    start = add_months_legal(birth, rule.start_months)
    end = add_months_legal(birth, rule.end_months) - timedelta(days=1)
    return Window(start, end, end - timedelta(days=rule.reminder_days_before_end))


@dataclass(frozen=True)
class Period:
    """A calendar month, the unit of extraction and reminder runs."""

    first: date

    @classmethod
    def parse(cls, text: str) -> "Period":
        match = _MONTH.match(text.strip())
        if match is None:
            raise ValueError(f"month must look like 2026-12, not {text!r}")
        return cls(date(int(match[1]), int(match[2]), 1))

    @classmethod
    def of(cls, day: date) -> "Period":
        return cls(day.replace(day=1))

    @classmethod
    def current(cls) -> "Period":
        return cls.of(today_tokyo())

    @property
    def last(self) -> date:
        return self.first.replace(day=calendar.monthrange(self.first.year, self.first.month)[1])

    def __str__(self) -> str:
        return f"{self.first.year:04d}-{self.first.month:02d}"


def is_target(window: Window, period: Period) -> bool:
    """Invited in `period` when the window is open at some day of the month (the SQL also
    requires that no earlier invitation and no result exist)."""
    return window.start <= period.last and window.end >= period.first


def is_non_attendee(window: Window, period: Period) -> bool:
    """On the month's non-attendee list when the reminder point falls by the month's end while
    the window is still open at its start (the SQL also requires no result, no earlier reminder)."""
    return window.reminder_from <= period.last and window.end >= period.first
