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
from datetime import date, timedelta
from typing import NamedTuple

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


class DoseStatus(NamedTuple):
    vaccine: str
    dose_no: int
    state: DoseState
    window_start: date | None  # None while an earlier dose is missing
    overdue_from: date | None
    last_day: date
    given_on: date | None = None


# (start, overdue from, end, last day) of one rule for one birth date.
_Window = tuple[date, date | None, date, date]


def _window(rule: DoseRule, birth: date) -> _Window:
    if rule.basis is Basis.PRE_SCHOOL_YEAR:
        entry = school_entry_date(birth)
        start, overdue, end = entry.replace(year=entry.year - 1), None, entry
    else:
        start = age_reached(birth, months=rule.start.months, days=rule.start.days)
        overdue = (
            None
            if rule.overdue is None
            else age_reached(birth, months=rule.overdue.months, days=rule.overdue.days)
        )
        end = age_reached(birth, months=rule.end.months, days=rule.end.days)
    return start, overdue, end, end - _ONE_DAY


_ONE_DAY = timedelta(days=1)


class Schedule:
    """The rules in force on one day. What depends on the birth date alone is computed once
    per birth date: the windows, and the statuses of a child with no record. A child's records
    then change only their vaccines' doses (100,000 children are born on under 5,000 days)."""

    def __init__(self, rules: Iterable[DoseRule], on: date) -> None:
        self.on = on
        self.rules = tuple(rule for rule in rules if rule.in_force(on))
        self._windows: dict[date, tuple[_Window, ...]] = {}
        self._unvaccinated: dict[tuple[date, bool], tuple[DoseStatus, ...]] = {}
        self._base_overdue: dict[tuple[date, bool], tuple[DoseStatus, ...]] = {}
        self._by_vaccine: dict[str, list[int]] = {}
        for index, rule in enumerate(self.rules):
            self._by_vaccine.setdefault(rule.vaccine, []).append(index)

    def _windows_of(self, birth: date) -> tuple[_Window, ...]:
        windows = self._windows.get(birth)
        if windows is None:
            windows = self._windows[birth] = tuple(_window(rule, birth) for rule in self.rules)
        return windows

    def statuses(
        self, birth: date, given: Iterable[DoseGiven], *, resident: bool = True
    ) -> list[DoseStatus]:
        """The status of every dose, in rule order. A non-resident (moved out, deceased) is
        outside the city's routine schedule: every dose not given is not applicable."""
        result = list(self._base(birth, resident))
        given_on = {(d.vaccine, d.dose_no): d.given_on for d in given}
        windows = self._windows_of(birth)
        for index in self._indices_of(given_on):
            result[index] = self._status(self.rules[index], windows[index], given_on, resident)
        return result

    def overdue(
        self, birth: date, given: Iterable[DoseGiven], *, resident: bool = True
    ) -> list[DoseStatus]:
        """Only the overdue doses (the nightly check's question: the same statuses, without
        building every dose of every child)."""
        key = (birth, resident)
        base = self._base_overdue.get(key)
        if base is None:
            base = self._base_overdue[key] = tuple(
                s for s in self._base(birth, resident) if s.state is DoseState.OVERDUE
            )
        given_on = {(d.vaccine, d.dose_no): d.given_on for d in given}
        if not given_on:
            return list(base)
        vaccines = {vaccine for vaccine, _ in given_on}
        result = [s for s in base if s.vaccine not in vaccines]
        windows = self._windows_of(birth)
        for index in self._indices_of(given_on):
            status = self._status(self.rules[index], windows[index], given_on, resident)
            if status.state is DoseState.OVERDUE:
                result.append(status)
        return result

    def _base(self, birth: date, resident: bool) -> tuple[DoseStatus, ...]:
        """The statuses of a child with no record."""
        base = self._unvaccinated.get((birth, resident))
        if base is None:
            base = self._unvaccinated[(birth, resident)] = tuple(
                self._status(rule, window, {}, resident)
                for rule, window in zip(self.rules, self._windows_of(birth), strict=True)
            )
        return base

    def _indices_of(self, given_on: dict[tuple[str, int], date]) -> list[int]:
        """The rules of the vaccines the records name: the only statuses they change."""
        vaccines = {vaccine for vaccine, _ in given_on}
        return [i for vaccine in vaccines for i in self._by_vaccine.get(vaccine, ())]

    def _status(
        self,
        rule: DoseRule,
        window: _Window,
        given_on: dict[tuple[str, int], date],
        resident: bool,
    ) -> DoseStatus:
        start, overdue, end, last_day = window
        key = (rule.vaccine, rule.dose_no)
        done = given_on.get(key)
        if done is not None:
            return DoseStatus(*key, DoseState.COMPLETE, start, overdue, last_day, done)
        if rule.interval_from_dose is not None:
            earlier = given_on.get((rule.vaccine, rule.interval_from_dose))
            if earlier is None:
                waiting = (
                    DoseState.NOT_YET_DUE
                    if resident and self.on < end
                    else DoseState.NOT_APPLICABLE
                )
                return DoseStatus(*key, waiting, None, None, last_day)
            start = max(
                start, age_reached(earlier, months=rule.interval_months, days=rule.interval_days)
            )
            if overdue is not None:
                overdue = max(overdue, start)
        state = _state(self.on, start, overdue, end, resident)
        return DoseStatus(*key, state, start, overdue, last_day)


def dose_statuses(
    *,
    birth: date,
    rules: Sequence[DoseRule],
    given: Iterable[DoseGiven],
    on: date,
    resident: bool = True,
) -> list[DoseStatus]:
    """One child's statuses on `on` under the rules in force that day."""
    return Schedule(rules, on).statuses(birth, given, resident=resident)


def _state(on: date, start: date, overdue: date | None, end: date, resident: bool) -> DoseState:
    if not resident or on >= end or start >= end:
        return DoseState.NOT_APPLICABLE
    if on < start:
        return DoseState.NOT_YET_DUE
    if overdue is not None and on >= overdue:
        return DoseState.OVERDUE
    return DoseState.DUE
