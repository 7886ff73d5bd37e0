"""Every life event: the answer, the history (as-of), the change log and the outbox event."""

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from atena.testing import KOKURA_KITA, YAHATA_NISHI, Headers, person_body
from mch_common.person_numbers import is_valid_person_no

MakePerson = Callable[..., Any]


async def events_for(db: AsyncSession, person_no: str) -> list[dict[str, Any]]:
    rows = await db.execute(
        text("SELECT envelope FROM outbox WHERE envelope->>'subject' = :no ORDER BY position"),
        {"no": person_no},
    )
    return [row[0] for row in rows]


async def test_registration_issues_a_ten_digit_number_and_emits_registered(
    client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
) -> None:
    r = await client.post("/persons", json=person_body(), headers=headers())
    assert r.status_code == 201, r.text
    person = r.json()
    assert len(person["person_no"]) == 10
    assert is_valid_person_no(person["person_no"])
    assert person["version"] == 1
    assert person["relationship_to_head"] == "head"
    assert person["household_no"]
    [event] = await events_for(db_session, person["person_no"])
    assert event["type"] == "atena.person.registered"
    assert event["tenant"] == "401005"
    assert event["specversion"] == "1.0"
    data = event["data"]
    assert data["person_no"] == person["person_no"]
    assert data["effective_date"] == "2024-01-01"
    assert data["before"] == {}
    assert data["after"]["family_name"] == "山田"
    extra = ("has_my_number", "my_number")
    assert data["person"] == {k: v for k, v in person.items() if k not in extra}
    assert set(data["person"]["address"]) == {
        "postal_code",
        "prefecture",
        "municipality_code",
        "ward_code",
        "town",
        "block",
        "building",
    }


async def test_birth_joins_the_mothers_household(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    mother = await make_person()
    r = await client.post(
        f"/persons/{mother['person_no']}/births",
        json={
            "given_name": "太郎",
            "given_name_kana": "タロウ",
            "sex": "male",
            "birth_date": "2025-03-03",
        },
        headers=headers(),
    )
    assert r.status_code == 201, r.text
    child = r.json()
    assert child["household_no"] == mother["household_no"]
    assert child["relationship_to_head"] == "child"
    assert child["mother_person_no"] == mother["person_no"]
    assert child["family_name"] == "山田"
    assert child["address"] == mother["address"]
    [event] = await events_for(db_session, child["person_no"])
    assert event["type"] == "atena.person.born"
    assert event["data"]["mother_person_no"] == mother["person_no"]
    assert event["data"]["effective_date"] == "2025-03-03"

    r = await client.get(f"/households/{mother['household_no']}", headers=headers())
    members = {m["person_no"] for m in r.json()["members"]}
    assert members == {mother["person_no"], child["person_no"]}


async def test_move_in_records_the_previous_municipality(
    client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
) -> None:
    body = person_body(previous_municipality_code="401307", effective_date="2025-04-01")
    r = await client.post("/persons/move-in", json=body, headers=headers())
    assert r.status_code == 201, r.text
    person = r.json()
    [event] = await events_for(db_session, person["person_no"])
    assert event["type"] == "atena.person.moved_in"
    assert event["data"]["previous_municipality_code"] == "401307"
    r = await client.get(f"/persons/{person['person_no']}/changes", headers=headers())
    [change] = r.json()["items"]
    assert change["change_type"] == "moved_in"
    assert change["detail"] == {"previous_municipality_code": "401307"}


async def test_move_within_the_city_and_the_as_of_query(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    person = await make_person(effective_date="2020-01-01")
    no = person["person_no"]
    new_address = {
        "postal_code": "8070000",
        "prefecture": "福岡県",
        "municipality_code": "401005",
        "ward_code": YAHATA_NISHI,
        "town": "八幡西区黒崎",
        "block": "3-1-1",
    }
    r = await client.post(
        f"/persons/{no}/address-change",
        json={"effective_date": "2025-04-01", "address": new_address},
        headers=headers(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2

    before = (await client.get(f"/persons/{no}?as_of=2025-03-31", headers=headers())).json()
    on_day = (await client.get(f"/persons/{no}?as_of=2025-04-01", headers=headers())).json()
    assert before["address"]["ward_code"] == KOKURA_KITA
    assert before["version"] == 1
    assert on_day["address"]["ward_code"] == YAHATA_NISHI
    assert on_day["version"] == 2
    r = await client.get(f"/persons/{no}?as_of=2019-12-31", headers=headers())
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"

    events = await events_for(db_session, no)
    moved = events[-1]
    assert moved["type"] == "atena.person.address_changed"
    assert set(moved["data"]["before"]) == {"address"}
    assert moved["data"]["before"]["address"]["ward_code"] == KOKURA_KITA
    assert moved["data"]["after"]["address"]["ward_code"] == YAHATA_NISHI
    assert moved["data"]["person"]["version"] == 2

    # A change dated before the latest one must be a correction instead.
    r = await client.post(
        f"/persons/{no}/address-change",
        json={"effective_date": "2025-01-01", "address": new_address | {"block": "9"}},
        headers=headers(),
    )
    assert r.status_code == 422


async def test_move_out_name_change_delivery_and_death(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    person = await make_person(effective_date="2020-01-01")
    no = person["person_no"]

    r = await client.post(
        f"/persons/{no}/name-change",
        json={
            "effective_date": "2024-06-01",
            "family_name": "佐藤",
            "family_name_kana": "サトウ",
            "reason": "marriage",
        },
        headers=headers(),
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/persons/{no}/delivery-addresses",
        json={
            "effective_date": "2024-07-01",
            "delivery_addresses": [
                {
                    "purpose": "checkup_notice",
                    "postal_code": "8020002",
                    "address_line": "北九州市小倉北区京町1-1",
                    "addressee": "佐藤花子",
                    "valid_from": "2024-07-01",
                }
            ],
        },
        headers=headers(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["delivery_addresses"][0]["purpose"] == "checkup_notice"
    r = await client.post(
        f"/persons/{no}/move-out",
        json={"effective_date": "2025-01-10", "destination_municipality_code": "401307"},
        headers=headers(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["residence_status"] == "moved_out"
    r = await client.post(
        f"/persons/{no}/death", json={"death_date": "2025-02-01"}, headers=headers()
    )
    assert r.status_code == 200, r.text
    assert r.json()["residence_status"] == "deceased"
    assert r.json()["death_date"] == "2025-02-01"
    # Nothing but a correction after death.
    r = await client.post(
        f"/persons/{no}/name-change",
        json={"effective_date": "2025-03-01", "given_name": "次郎"},
        headers=headers(),
    )
    assert r.status_code == 409

    types = [e["type"].rsplit(".", 1)[1] for e in await events_for(db_session, no)]
    assert types == ["registered", "name_changed", "delivery_address_changed", "moved_out", "died"]
    events = await events_for(db_session, no)
    assert events[1]["data"]["before"] == {"family_name": "山田", "family_name_kana": "ヤマダ"}
    assert events[1]["data"]["after"] == {"family_name": "佐藤", "family_name_kana": "サトウ"}
    assert events[3]["data"]["destination_municipality_code"] == "401307"
    assert [e["data"]["person"]["version"] for e in events] == [1, 2, 3, 4, 5]

    changes = (await client.get(f"/persons/{no}/changes", headers=headers())).json()["items"]
    assert [c["change_type"] for c in changes] == types
    assert changes[1]["reason"] == "marriage"
    as_of = (await client.get(f"/persons/{no}?as_of=2024-05-31", headers=headers())).json()
    assert as_of["family_name"] == "山田"


async def test_correction_rewrites_history_and_keeps_what_was_known(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    person = await make_person(effective_date="2020-01-01", birth_date="1990-01-01")
    no = person["person_no"]
    new_address = person["address"] | {"block": "9-9"}
    r = await client.post(
        f"/persons/{no}/address-change",
        json={"effective_date": "2024-01-01", "address": new_address},
        headers=headers(),
    )
    assert r.status_code == 200
    r = await client.get(f"/persons/{no}?as_of=2021-01-01", headers=headers())
    known_before = r.json()
    import datetime as dt

    known_at = dt.datetime.now(dt.UTC).isoformat()
    r = await client.post(
        f"/persons/{no}/corrections",
        json={
            "changes": {"birth_date": "1990-01-02", "phone": "093-111-2222"},
            "reason": "typo at registration",
        },
        headers=headers(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["birth_date"] == "1990-01-02"
    assert r.json()["version"] == 3

    # The birth date is corrected across history; the phone number only from now on.
    old = (await client.get(f"/persons/{no}?as_of=2021-01-01", headers=headers())).json()
    assert old["birth_date"] == "1990-01-02"
    assert old["phone"] == known_before["phone"]
    assert old["address"] == person["address"]
    # What the registry said before the correction is still answerable.
    r = await client.get(
        f"/persons/{no}", params={"as_of": "2021-01-01", "known_at": known_at}, headers=headers()
    )
    assert r.json()["birth_date"] == "1990-01-01"

    [*_, event] = await events_for(db_session, no)
    assert event["type"] == "atena.person.corrected"
    assert event["data"]["before"] == {"birth_date": "1990-01-01", "phone": "093-000-0000"}

    r = await client.post(
        f"/persons/{no}/corrections",
        json={"changes": {"phone": "093-111-2222"}, "reason": "again"},
        headers=headers(),
    )
    assert r.status_code == 422  # changes nothing


async def test_returning_resident_keeps_the_number(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson
) -> None:
    person = await make_person(effective_date="2020-01-01")
    no = person["person_no"]
    r = await client.post(
        f"/persons/{no}/move-out",
        json={"effective_date": "2022-01-01", "destination_municipality_code": "401307"},
        headers=headers(),
    )
    assert r.status_code == 200
    body = person_body(
        person_no=no, previous_municipality_code="401307", effective_date="2024-01-01"
    )
    r = await client.post("/persons/move-in", json=body, headers=headers())
    assert r.status_code == 201, r.text
    assert r.json()["person_no"] == no
    assert r.json()["residence_status"] == "resident"
    assert r.json()["version"] == 3
