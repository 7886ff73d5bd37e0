"""Bad input is answered 4xx problem+json and changes nothing: no person, no version, no
change-log row, no My Number, no outbox event."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from atena.testing import Headers, person_body
from mch_common.mynumber import generate_my_number

MakePerson = Callable[..., Any]
TABLES = ("person", "person_version", "person_change", "person_my_number", "household", "outbox")


async def counts(db: AsyncSession) -> dict[str, int]:
    return {t: (await db.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in TABLES}


def _bad_my_number() -> str:
    good = generate_my_number()
    return good[:11] + str((int(good[11]) + 1) % 10)


BAD_BODIES = {
    "my number check digit": lambda: person_body(my_number=_bad_my_number()),
    "my number length": lambda: person_body(my_number="12345678901"),
    "impossible date": lambda: person_body(birth_date="2025-02-30"),
    "future birth": lambda: person_body(birth_date="2999-01-01"),
    "unknown ward": lambda: person_body(address=person_body()["address"] | {"ward_code": "401137"}),
    "ward check digit": lambda: person_body(
        address=person_body()["address"] | {"ward_code": "401062"}
    ),
    "municipality check digit": lambda: person_body(
        address=person_body()["address"] | {"municipality_code": "401001"}
    ),
    "resident outside the city": lambda: person_body(
        address=person_body()["address"] | {"municipality_code": "401307", "ward_code": None}
    ),
    "postal code": lambda: person_body(address=person_body()["address"] | {"postal_code": "12-34"}),
    "unknown field": lambda: person_body(nickname="x"),
    "bad sex": lambda: person_body(sex="x"),
    "effective before birth": lambda: person_body(effective_date="1990-01-01"),
    "my number in the phone field": lambda: person_body(phone=generate_my_number()),
    "my number in the building": lambda: person_body(
        address=person_body()["address"] | {"building": "ハイツ" + generate_my_number()}
    ),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
async def test_bad_registration_changes_nothing(
    case: str, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
) -> None:
    before = await counts(db_session)
    body = BAD_BODIES[case]()
    r = await client.post("/persons", json=body, headers=headers())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422
    assert problem["errors"]
    if "my_number" in body:
        assert body["my_number"] not in r.text
    assert await counts(db_session) == before


async def test_duplicate_registrations_are_conflicts(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    number = generate_my_number()
    first = await make_person(my_number=number, external_key="JUKI-0001")
    before = await counts(db_session)
    for body in (
        person_body(my_number=number),  # the same My Number
        person_body(external_key="JUKI-0001"),  # the same registry key
        person_body(
            given_name=first["given_name"],
            given_name_kana=first["given_name_kana"],
            address=first["address"] | {"postal_code": "8020001"},
        ),  # the same person
    ):
        r = await client.post("/persons", json=body, headers=headers())
        assert r.status_code == 409, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert number not in r.text
    assert await counts(db_session) == before


async def test_bad_life_events_change_nothing(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    person = await make_person()
    no = person["person_no"]
    before = await counts(db_session)
    cases: list[tuple[str, dict[str, Any], int]] = [
        (
            "move-out",
            {"effective_date": "2025-01-01", "destination_municipality_code": "401306"},
            422,
        ),
        (
            "move-out",
            {"effective_date": "2025-01-01", "destination_municipality_code": "401005"},
            422,
        ),
        ("address-change", {"effective_date": "2025-13-01", "address": person["address"]}, 422),
        (
            "address-change",
            {
                "effective_date": "2025-01-01",
                "address": person["address"] | {"ward_code": "999999"},
            },
            422,
        ),
        ("death", {"death_date": "1980-01-01"}, 422),
        (
            "births",
            {
                "given_name": "子",
                "given_name_kana": "コ",
                "sex": "male",
                "birth_date": "2024-02-30",
            },
            422,
        ),
        ("name-change", {"effective_date": "2025-01-01"}, 422),
        ("corrections", {"changes": {}, "reason": "nothing"}, 422),
    ]
    for path, body, status in cases:
        r = await client.post(f"/persons/{no}/{path}", json=body, headers=headers())
        assert r.status_code == status, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = await client.post(
        "/persons/0000000000/death", json={"death_date": "2025-01-01"}, headers=headers()
    )
    assert r.status_code == 404
    r = await client.post(
        "/persons/lookup-by-my-number", json={"my_number": _bad_my_number()}, headers=headers()
    )
    assert r.status_code == 422
    assert await counts(db_session) == before


@pytest.mark.parametrize("field", ["address", "birth_date", "family_name"])
async def test_correction_that_empties_a_required_field_is_refused(
    field: str, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
) -> None:
    """A correction naming the address (or another fact every person has) without a value is a
    422 naming the field, not a 500, and changes nothing."""
    r = await client.post("/persons", json=person_body(), headers=headers())
    assert r.status_code == 201, r.text
    no = r.json()["person_no"]
    before = await counts(db_session)
    r = await client.post(
        f"/persons/{no}/corrections",
        json={"changes": {field: None}, "reason": "typo"},
        headers=headers(),
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in r.text
    assert await counts(db_session) == before
