"""The month's target and non-attendee lists are paged like the project's other lists: `limit`
and `cursor` (the previous page's `next_cursor`), keyset by ward, household and person, so a
child added between two pages neither repeats nor shifts one; each page's access record names
that page's children."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.people.models import Person
from boshi_core.testsupport import CHECKUP_SCOPES, KOKURA_NORTH, YAHATA_WEST, Auth, Resident
from mch_common.audit import AuditRecord

pytestmark = pytest.mark.usefixtures("programmes")

MONTH = "2026-09"  # born mid-April 2026: the 4-month checkup's non-attendees from September
LISTS = {"targets": "checkup.targets.view", "non-attendees": "checkup.non_attendees.view"}


async def page(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    path: str,
    *,
    limit: int,
    cursor: str | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"programme": "4m", "month": MONTH, "limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    response = await client.get(f"/checkups/{path}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def every_page(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, *, limit: int
) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        body = await page(client, headers, path, limit=limit, cursor=cursor)
        pages.append([item["person_no"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(body["items"]) == limit  # only a full page has a next one


async def last_seq(db: AsyncSession) -> int:
    await db.commit()  # a fresh snapshot: the app commits in its own sessions
    return int((await db.execute(select(func.coalesce(func.max(AuditRecord.seq), 0)))).scalar_one())


def house_order(items: list[dict[str, Any]]) -> list[str]:
    return [
        i["person_no"]
        for i in sorted(
            items, key=lambda i: (i["ward_code"] or "", i["household_key"], i["person_no"])
        )
    ]


@pytest.fixture
async def children(
    client: httpx.AsyncClient, auth: Auth, resident: Resident, db_session: AsyncSession
) -> list[str]:
    """Nine children of the same age in two wards and seven households (twins and triplets),
    one without a ward in the read model; September's extraction invites them."""
    households = ["H300", "H300", "H301", "H302", "H302", "H302", "H303", "H304", "H305"]
    numbers = [f"20000003{i:02d}" for i in range(len(households))]
    for i, (person_no, household) in enumerate(zip(numbers, households, strict=True)):
        ward = YAHATA_WEST if i % 3 == 0 else KOKURA_NORTH
        await resident(person_no, f"2026-04-{10 + i}", ward=ward, household_no=household)
    await db_session.execute(
        update(Person).where(Person.person_no == numbers[-1]).values(ward_code=None)
    )
    await db_session.commit()
    extracted = await client.post(
        "/checkups/extractions",
        json={"programme": "4m", "month": MONTH},
        headers=auth(CHECKUP_SCOPES),
    )
    assert extracted.status_code == 200, extracted.text
    assert extracted.json()["invited"] == len(numbers)
    return numbers


@pytest.mark.parametrize("path", LISTS)
async def test_the_pages_together_are_the_whole_list_in_house_order(
    client: httpx.AsyncClient, auth: Auth, children: list[str], path: str
) -> None:
    headers = auth(CHECKUP_SCOPES)
    whole = await page(client, headers, path, limit=500)
    assert whole["next_cursor"] is None
    assert {i["person_no"] for i in whole["items"]} == set(children)
    assert [i["person_no"] for i in whole["items"]] == house_order(whole["items"])
    assert (whole["programme"], whole["month"]) == ("4m", MONTH)
    pages = await every_page(client, headers, path, limit=2)
    assert [len(p) for p in pages] == [2, 2, 2, 2, 1]
    assert [n for p in pages for n in p] == [i["person_no"] for i in whole["items"]]
    # The default page is 50.
    assert len((await page(client, headers, path, limit=50))["items"]) == len(children)


@pytest.mark.parametrize("path", LISTS)
async def test_ward_staff_page_through_their_ward_only(
    client: httpx.AsyncClient, auth: Auth, children: list[str], path: str
) -> None:
    headers = auth(CHECKUP_SCOPES, ward=YAHATA_WEST)
    pages = await every_page(client, headers, path, limit=2)
    assert sorted(n for p in pages for n in p) == [children[0], children[3], children[6]]


async def test_a_child_added_between_pages_neither_repeats_nor_shifts_a_page(
    client: httpx.AsyncClient,
    auth: Auth,
    resident: Resident,
    children: list[str],
    db_session: AsyncSession,
) -> None:
    headers = auth(CHECKUP_SCOPES)
    first = await page(client, headers, "non-attendees", limit=4)
    seen = [i["person_no"] for i in first["items"]]
    before = await page(client, headers, "non-attendees", limit=500)
    rest_before = [i["person_no"] for i in before["items"]][4:]
    # The first page ends in Kokura-kita's H302; a child moving in to a household that sorts
    # before the cursor, and one after it.
    assert first["next_cursor"].startswith(f"{KOKURA_NORTH}_H302_")
    await resident("2000000398", "2026-04-12", ward=KOKURA_NORTH, household_no="H000")
    await resident("2000000399", "2026-04-12", ward=YAHATA_WEST, household_no="H999")
    rest: list[str] = []
    cursor = first["next_cursor"]
    while cursor is not None:
        body = await page(client, headers, "non-attendees", limit=4, cursor=cursor)
        rest += [i["person_no"] for i in body["items"]]
        cursor = body["next_cursor"]
    assert not set(rest) & set(seen)
    assert rest == [n for n in rest_before if n not in seen] + ["2000000399"]


@pytest.mark.parametrize("path", LISTS)
async def test_each_page_is_logged_with_its_own_children(
    client: httpx.AsyncClient,
    auth: Auth,
    children: list[str],
    db_session: AsyncSession,
    path: str,
) -> None:
    since = await last_seq(db_session)  # the log outlives each test
    pages = await every_page(client, auth(CHECKUP_SCOPES), path, limit=4)
    logged = (
        await db_session.execute(
            select(AuditRecord.persons, AuditRecord.detail)
            .where(AuditRecord.action == LISTS[path], AuditRecord.seq > since)
            .order_by(AuditRecord.seq)
        )
    ).all()
    assert [sorted(r.persons) for r in logged] == [sorted(p) for p in pages]
    assert [r.detail["count"] for r in logged] == [len(p) for p in pages]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "401064_H300_20000003"},  # the person number cut short
        {"cursor": "4010640_H300_2000000300"},  # not a ward code
        {"cursor": "401064__2000000300"},  # no household
        {"limit": 0},
        {"limit": 501},
    ],
)
async def test_a_bad_cursor_or_limit_is_a_problem(
    client: httpx.AsyncClient,
    auth: Auth,
    db_session: AsyncSession,
    path: str,
    params: dict[str, Any],
) -> None:
    since = await last_seq(db_session)
    response = await client.get(
        f"/checkups/{path}",
        params={"programme": "4m", "month": MONTH, **params},
        headers=auth(CHECKUP_SCOPES),
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await last_seq(db_session) == since  # nothing shown, nothing logged
