"""Keyset paging by (a date, an id): the cursor a page answers is the last row's key, and the
next page starts after it, so rows added meanwhile neither repeat nor shift a page."""

from datetime import date
from uuid import UUID

from mch_common.errors import InvalidInput

Key = tuple[date, UUID]


def parse_cursor(cursor: str | None) -> Key | None:
    """The key a `next_cursor` names (`<date>_<id>`), or None for the first page."""
    if cursor is None:
        return None
    try:
        day, row_id = cursor.split("_", 1)
        return date.fromisoformat(day), UUID(row_id)
    except ValueError as exc:
        raise InvalidInput("cursor is not one this list returned") from exc


def next_cursor(key: Key | None) -> str | None:
    return f"{key[0].isoformat()}_{key[1]}" if key else None
