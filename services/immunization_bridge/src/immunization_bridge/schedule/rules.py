"""The routine schedule (定期接種) as rules, and each dose's status computed from nothing but
the rules in force and the child's record history: a late or corrected record recomputes
cleanly. Ages follow the legal rule of `mch_common.dates` (one implementation).

A dose's window: from `start` to the day before `end` (the legal period); from `overdue` on
(the first day past the standard period, 標準的な接種期間) an undone dose is overdue. A later
dose also waits its minimum interval after an earlier one. After the legal period an undone
dose is no longer routine: "not applicable".
"""

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from mch_common.dates import age_reached, school_entry_date


class Basis(enum.StrEnum):
    AGE = "age"  # bounds are ages (months and days after the legal months)
    # MR 2nd dose: the school year before primary school (小学校就学前の1年間).
    PRE_SCHOOL_YEAR = "pre_school_year"


class DoseState(enum.StrEnum):
    NOT_YET_DUE = "not_yet_due"
    DUE = "due"
    OVERDUE = "overdue"
    COMPLETE = "complete"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class AgeBound:
    months: int = 0
    days: int = 0


@dataclass(frozen=True)
class DoseRule:
    vaccine: str
    dose_no: int
    basis: Basis
    start: AgeBound
    end: AgeBound  # exclusive: the first day the routine window is closed
    overdue: AgeBound | None  # None: no standard period, never overdue before `end`
    # Minimum interval after dose `interval_from_dose` of the same vaccine (legal months, days).
    interval_from_dose: int | None = None
    interval_months: int = 0
    interval_days: int = 0
    effective_from: date = date.min
    effective_to: date | None = None  # exclusive

    def in_force(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on < self.effective_to)


@dataclass(frozen=True)
class DoseGiven:
    vaccine: str
    dose_no: int
    given_on: date


@dataclass(frozen=True)
class DoseStatus:
    vaccine: str
    dose_no: int
    state: DoseState
    window_start: date | None  # None while an earlier dose is missing
    overdue_from: date | None
    last_day: date
    given_on: date | None = None


@lru_cache(maxsize=65_536)
def _window(rule: DoseRule, birth: date) -> tuple[date, date | None, date]:
    """(start, overdue from, end) for a birth date: many children share one, so it is cached
    (the nightly recompute of 100,000 children depends on it)."""
    if rule.basis is Basis.PRE_SCHOOL_YEAR:
        entry = school_entry_date(birth)
        return entry.replace(year=entry.year - 1), None, entry
    overdue = rule.overdue
    return (
        age_reached(birth, months=rule.start.months, days=rule.start.days),
        None if overdue is None else age_reached(birth, months=overdue.months, days=overdue.days),
        age_reached(birth, months=rule.end.months, days=rule.end.days),
    )


def dose_statuses(
    *,
    birth: date,
    rules: Sequence[DoseRule],
    given: Iterable[DoseGiven],
    on: date,
    resident: bool = True,
) -> list[DoseStatus]:
    """The status on `on` of every dose the rules in force on that day name, in rule order.
    A non-resident (moved out, deceased) is outside the city's routine schedule: every dose
    not given is not applicable."""
    given_on = {(d.vaccine, d.dose_no): d.given_on for d in given}
    result: list[DoseStatus] = []
    for rule in rules:
        if not rule.in_force(on):
            continue
        start, overdue, end = _window(rule, birth)
        last_day = date.fromordinal(end.toordinal() - 1)
        done = given_on.get((rule.vaccine, rule.dose_no))
        if done is not None:
            result.append(
                DoseStatus(
                    rule.vaccine, rule.dose_no, DoseState.COMPLETE, start, overdue, last_day, done
                )
            )
            continue
        if rule.interval_from_dose is not None:
            earlier = given_on.get((rule.vaccine, rule.interval_from_dose))
            if earlier is None:
                state = (
                    DoseState.NOT_APPLICABLE
                    if on >= end or not resident
                    else (DoseState.NOT_YET_DUE)
                )
                result.append(DoseStatus(rule.vaccine, rule.dose_no, state, None, None, last_day))
                continue
            after_interval = age_reached(
                earlier, months=rule.interval_months, days=rule.interval_days
            )
            start = max(start, after_interval)
            if overdue is not None:
                overdue = max(overdue, start)
        result.append(
            DoseStatus(
                rule.vaccine,
                rule.dose_no,
                _state(on, start, overdue, end, resident),
                start,
                overdue,
                last_day,
            )
        )
    return result


def _state(on: date, start: date, overdue: date | None, end: date, resident: bool) -> DoseState:
    if not resident or on >= end or start >= end:
        return DoseState.NOT_APPLICABLE
    if on < start:
        return DoseState.NOT_YET_DUE
    if overdue is not None and on >= overdue:
        return DoseState.OVERDUE
    return DoseState.DUE
