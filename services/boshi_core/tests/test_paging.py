"""Keyset cursors (boshi_core.paging): every list reads its cursor with the same helpers, so a
cursor this list did not return is one 422 problem everywhere, never a 500."""

from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID

import httpx
import pytest

from boshi_core.paging import NOT_OURS, next_cursor, parse_cursor, parse_time_cursor
from boshi_core.testsupport import ALL_SCOPES, Auth
from mch_common.errors import InvalidInput

ROW = UUID("0190f5d2-7c1e-7a3b-8c4d-5e6f70819203")
LIST_SCOPES = (*ALL_SCOPES, "boshi:requests:read", "boshi:retention:admin")
# A list keyed by a date and one keyed by a time (the inquiries, newest first).
LISTS = {
    "overdue requests": ("/requests/overdue", {}),
    "retention due": ("/retention/due", {"record_type": "pregnancy"}),
    "inquiries": ("/inquiries", {}),
}
NOT_CURSORS = {
    "no separator": "nonsense",
    "not a date": "2026-13-01_0190f5d2-7c1e-7a3b-8c4d-5e6f70819203",
    "not an id": "2026-11-05_not-a-uuid",
    "time without offset": "2026-11-05T10:00:00_0190f5d2-7c1e-7a3b-8c4d-5e6f70819203",
    "past the calendar's end": "9999-12-31T23:59:59-12:00_0190f5d2-7c1e-7a3b-8c4d-5e6f70819203",
}


def test_a_cursor_names_the_key_it_was_made_from() -> None:
    assert parse_cursor(next_cursor((date(2026, 11, 5), ROW))) == (date(2026, 11, 5), ROW)
    at = datetime(2026, 11, 5, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=9)))
    assert parse_time_cursor(next_cursor((at, ROW))) == (at.astimezone(UTC), ROW)
    assert parse_cursor(None) is None
    assert parse_time_cursor(None) is None
    assert next_cursor(None) is None


@pytest.mark.parametrize("cursor", NOT_CURSORS.values(), ids=NOT_CURSORS.keys())
def test_a_cursor_not_ours_is_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput, match=NOT_OURS):
        parse_time_cursor(cursor)
    with pytest.raises(InvalidInput, match=NOT_OURS):
        parse_cursor(cursor)


@pytest.mark.parametrize("cursor", NOT_CURSORS.values(), ids=NOT_CURSORS.keys())
@pytest.mark.parametrize("listed", LISTS.values(), ids=LISTS.keys())
async def test_a_list_answers_a_cursor_not_ours_with_a_problem(
    client: httpx.AsyncClient, auth: Auth, listed: tuple[str, dict[str, str]], cursor: str
) -> None:
    path, params = listed
    response = await client.get(
        path, params={**params, "cursor": cursor}, headers=auth(LIST_SCOPES)
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == NOT_OURS
