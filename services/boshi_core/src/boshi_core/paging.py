"""Keyset paging: the cursor a page answers is the last row's key, and the next page starts
after it, so rows added meanwhile neither repeat nor shift a page. Most lists are keyed by (a
date or a time, an id); the checkup lists by (ward, household, person), the order letters go
out in. Every list parses its cursor here: one that is not ours is a 422 problem, never a 500."""

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TypeVar
from uuid import UUID

from mch_common.errors import InvalidInput

Key = tuple[date, UUID]
TimeKey = tuple[datetime, UUID]
# Ward code ('' for none: such rows come first), household key, person number.
HouseholdKey = tuple[str, str, str]

NOT_OURS = "cursor is not one this list returned"
# `_` never occurs in a ward code or a person number; a household key may hold anything else.
_HOUSEHOLD_CURSOR = re.compile(r"(\d{6})?_([^\s_][^\s]{0,39})_(\d{10})")


_At = TypeVar("_At", date, datetime)


def _parse_keyed(cursor: str | None, read: Callable[[str], _At]) -> tuple[_At, UUID] | None:
    if cursor is None:
        return None
    try:
        at, row_id = cursor.split("_", 1)
        return read(at), UUID(row_id)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(NOT_OURS) from exc


def parse_cursor(cursor: str | None) -> Key | None:
    """The key a `next_cursor` names (`<date>_<id>`), or None for the first page."""
    return _parse_keyed(cursor, date.fromisoformat)


def _instant(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError("a cursor's time carries its offset")
    return at.astimezone(UTC)  # OverflowError at the ends of the calendar


def parse_time_cursor(cursor: str | None) -> TimeKey | None:
    """The key a time-ordered list's `next_cursor` names (`<ISO time with offset>_<id>`)."""
    return _parse_keyed(cursor, _instant)


def next_cursor(key: Key | TimeKey | None) -> str | None:
    return f"{key[0].isoformat()}_{key[1]}" if key else None


def parse_household_cursor(cursor: str | None) -> HouseholdKey | None:
    """The key a household-ordered list's `next_cursor` names
    (`<ward code>_<household key>_<person number>`), or None for the first page."""
    if cursor is None:
        return None
    match = _HOUSEHOLD_CURSOR.fullmatch(cursor)
    if match is None:
        raise InvalidInput(NOT_OURS)
    ward, household, person_no = match.groups()
    return ward or "", household, person_no


def next_household_cursor(key: HouseholdKey | None) -> str | None:
    return "_".join(key) if key else None
