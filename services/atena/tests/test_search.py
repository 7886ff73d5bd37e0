"""Search: normalised names and kana, criteria, paging with total, sorting."""

from collections.abc import Callable
from typing import Any

import httpx

from atena.testing import Headers

MakePerson = Callable[..., Any]


async def test_names_are_found_however_they_are_typed(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson
) -> None:
    person = await make_person(
        family_name="髙﨑", given_name="澄子", family_name_kana="タカサキ", given_name_kana="スミコ"
    )
    for typed in (
        "高崎",
        "髙﨑澄子",
        "高崎 澄子",
        "たかさき",
        "ﾀｶｻｷ ｽﾐｺ",
        "タカサキスミ",
        "たかさきすみこ",
    ):
        r = await client.get("/persons", params={"name": typed}, headers=headers())
        assert r.status_code == 200, r.text
        assert [p["person_no"] for p in r.json()["items"]] == [person["person_no"]], typed
    r = await client.get("/persons", params={"kana": "ﾀｶｻｷ"}, headers=headers())
    assert r.json()["total"] == 1
    r = await client.get("/persons", params={"name": "高橋"}, headers=headers())
    assert r.json()["total"] == 0


async def test_criteria_paging_and_sorting(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson
) -> None:
    made = [
        await make_person(
            family_name="頁送",
            family_name_kana="ページオクリ",
            given_name=f"子{i}",
            given_name_kana=f"コ{i}",
            birth_date=f"199{i}-01-01",
        )
        for i in range(5)
    ]
    r = await client.get(
        "/persons", params={"name": "頁送", "limit": 2, "sort": "-birth_date"}, headers=headers()
    )
    page = r.json()
    assert page["total"] == 5
    assert page["limit"] == 2
    assert [p["birth_date"] for p in page["items"]] == ["1994-01-01", "1993-01-01"]
    r = await client.get(
        "/persons",
        params={"name": "頁送", "limit": 2, "offset": 4, "sort": "-birth_date"},
        headers=headers(),
    )
    assert [p["birth_date"] for p in r.json()["items"]] == ["1990-01-01"]
    r = await client.get(
        "/persons", params={"birth_date": "1992-01-01", "name": "頁送"}, headers=headers()
    )
    assert [p["person_no"] for p in r.json()["items"]] == [made[2]["person_no"]]
    r = await client.get(
        "/persons",
        params={"birth_date_from": "1993-01-01", "name": "頁送", "sort": "birth_date"},
        headers=headers(),
    )
    assert [p["given_name"] for p in r.json()["items"]] == ["子3", "子4"]
    r = await client.get(
        "/persons", params={"household_no": made[0]["household_no"]}, headers=headers()
    )
    assert r.json()["total"] == 1
    r = await client.get(
        "/persons",
        params={"postal_code": "802-0001", "town": "小倉北区浅野", "name": "頁送"},
        headers=headers(),
    )
    assert r.json()["total"] == 5


async def test_a_search_needs_a_criterion_and_valid_paging(
    client: httpx.AsyncClient, headers: Headers
) -> None:
    cases: list[dict[str, str | int]] = [
        {},
        {"ward_code": "401064"},
        {"name": "x", "limit": 0},
        {"name": "x", "sort": "salary"},
        {"name": "x", "birth_date": "2024-02-30"},
    ]
    for params in cases:
        r = await client.get("/persons", params=params, headers=headers())
        assert r.status_code == 422, params
        assert r.headers["content-type"] == "application/problem+json"
