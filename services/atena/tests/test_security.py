"""My Number masking and lookup, ward scoping, and the access log."""

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from atena.testing import KOKURA_KITA, YAHATA_NISHI, Headers, person_body
from mch_common.mynumber import generate_my_number

MakePerson = Callable[..., Any]
READ = "atena:person:read"


async def audit_rows(db: AsyncSession, action: str) -> list[Any]:
    """This test's access records (the log is append-only: other tests' records stay)."""
    result = await db.execute(
        text(
            "SELECT actor, terminal, target_id, purpose, outcome, detail, persons FROM audit_log "
            "WHERE action = :a AND occurred_at >= now() ORDER BY seq"
        ),
        {"a": action},
    )
    return list(result.all())


async def test_my_number_is_masked_unless_the_caller_may_read_it(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    number = generate_my_number()
    person = await make_person(my_number=number)
    assert person["my_number"] == "********" + number[-4:]
    no = person["person_no"]

    masked = (await client.get(f"/persons/{no}", headers=headers(READ))).json()
    assert masked["has_my_number"] is True
    assert masked["my_number"] == "********" + number[-4:]
    clear = await client.get(f"/persons/{no}", headers=headers(READ, "atena:mynumber:read"))
    assert clear.json()["my_number"] == number
    found = (await client.get("/persons", params={"name": "山田"}, headers=headers(READ))).json()
    assert all(item["my_number"] is None for item in found["items"])

    # Stored encrypted, apart, bound to the person number.
    row = (
        await db_session.execute(
            text(
                "SELECT key_id, ciphertext, blind_index FROM person_my_number WHERE person_no = :no"
            ),
            {"no": no},
        )
    ).one()
    assert number.encode() not in row.ciphertext
    assert row.key_id
    reads = await audit_rows(db_session, "person.read")
    assert [r.detail["my_number"] for r in reads] == ["masked", "revealed"]


async def test_the_creation_answer_is_the_record_a_read_answers(
    client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
) -> None:
    for scopes in ((), ("atena:person:write", READ, "atena:mynumber:read")):
        body = person_body(my_number=generate_my_number())
        created = await client.post("/persons", json=body, headers=headers(*scopes))
        assert created.status_code == 201, created.text
        assert created.json()["has_my_number"] is True
        no = created.json()["person_no"]
        read = await client.get(f"/persons/{no}", headers=headers(*scopes))
        assert created.json() == read.json()
    [masked, revealed] = await audit_rows(db_session, "person.registered")
    assert [masked.detail["my_number"], revealed.detail["my_number"]] == ["masked", "revealed"]
    # Without a My Number the answer says so, not "unknown".
    created = await client.post("/persons", json=person_body(), headers=headers())
    assert (created.json()["has_my_number"], created.json()["my_number"]) == (False, None)


async def test_lookup_by_my_number_needs_its_scope(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    number = generate_my_number()
    person = await make_person(my_number=number)
    body = {"my_number": number}
    r = await client.post("/persons/lookup-by-my-number", json=body, headers=headers(READ))
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert number not in r.text

    r = await client.post(
        "/persons/lookup-by-my-number", json=body, headers=headers("atena:mynumber:lookup")
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"person_no": person["person_no"], "person": None}

    r = await client.post(
        "/persons/lookup-by-my-number",
        json={"my_number": number[:4] + "-" + number[4:8] + " " + number[8:]},
        headers=headers("atena:mynumber:lookup", READ, purpose="eligibility"),
    )
    assert r.json()["person"]["my_number"] == "********" + number[-4:]

    other = generate_my_number()
    r = await client.post(
        "/persons/lookup-by-my-number",
        json={"my_number": other},
        headers=headers("atena:mynumber:lookup"),
    )
    assert r.status_code == 404
    assert other not in r.text

    lookups = await audit_rows(db_session, "person.lookup_by_my_number")
    assert [(x.target_id, x.outcome) for x in lookups] == [
        (person["person_no"], "success"),
        (person["person_no"], "success"),
        (None, "not_found"),
    ]
    assert lookups[1].purpose == "eligibility"
    assert lookups[0].purpose == "maternal-child-health-affairs"
    assert lookups[0].terminal == "TERM-0001"
    assert lookups[0].actor == "staff-0001"


async def test_ward_staff_see_their_ward_only(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    kita = await make_person(family_name="区境", family_name_kana="クザカイ")
    nishi_address = person_body()["address"] | {"ward_code": YAHATA_NISHI, "town": "八幡西区黒崎"}
    nishi = await make_person(
        family_name="区境", family_name_kana="クザカイ", address=nishi_address
    )
    kita_staff = headers(READ, "atena:person:write", ward=KOKURA_KITA, sub="ward-staff")

    r = await client.get(f"/persons/{kita['person_no']}", headers=kita_staff)
    assert r.status_code == 200
    # Another ward's resident is answered as nobody: a refusal tells no more than a miss.
    r = await client.get(f"/persons/{nishi['person_no']}", headers=kita_staff)
    assert r.status_code == 404
    r = await client.get("/persons", params={"name": "区境"}, headers=kita_staff)
    assert [p["person_no"] for p in r.json()["items"]] == [kita["person_no"]]
    r = await client.get(
        "/persons", params={"name": "区境", "ward_code": YAHATA_NISHI}, headers=kita_staff
    )
    assert r.status_code == 403
    r = await client.get("/persons", params={"name": "区境"}, headers=headers(READ))
    assert r.json()["total"] == 2

    # Writes too: a ward cannot register or change another ward's residents.
    r = await client.post(
        f"/persons/{nishi['person_no']}/name-change",
        json={"effective_date": "2025-01-01", "given_name": "変更"},
        headers=kita_staff,
    )
    assert r.status_code == 404
    r = await client.post("/persons", json=person_body(address=nishi_address), headers=kita_staff)
    assert r.status_code == 403
    r = await client.get(f"/households/{nishi['household_no']}", headers=kita_staff)
    assert r.status_code == 404


async def test_reads_need_a_token_and_the_scope(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson
) -> None:
    person = await make_person()
    assert (await client.get(f"/persons/{person['person_no']}")).status_code == 401
    lookup_only = headers("atena:mynumber:lookup")
    r = await client.get(f"/persons/{person['person_no']}", headers=lookup_only)
    assert r.status_code == 403
    r = await client.post("/persons", json=person_body(), headers=headers(READ))
    assert r.status_code == 403


async def test_every_read_is_in_the_access_log(
    client: httpx.AsyncClient, headers: Headers, make_person: MakePerson, db_session: AsyncSession
) -> None:
    person = await make_person()
    no = person["person_no"]
    purpose = "%E4%B9%B3%E5%B9%BC%E5%85%90%E5%81%A5%E8%A8%BA"  # 乳幼児健診, percent-encoded
    await client.get(f"/persons/{no}", headers=headers(READ, purpose=purpose))
    await client.get(f"/persons/{no}/changes", headers=headers(READ))
    await client.get("/persons", params={"name": "ヤマダ"}, headers=headers(READ))
    [read] = await audit_rows(db_session, "person.read")
    assert read.purpose == "乳幼児健診"
    assert read.target_id == no
    assert len(await audit_rows(db_session, "person.changes.read")) == 1
    [search] = await audit_rows(db_session, "person.search")
    assert no in search.persons
    assert search.detail["criteria"] == ["name"]
    [registered] = await audit_rows(db_session, "person.registered")
    assert registered.target_id == no


async def test_my_number_registered_later_and_replaced_with_a_reason(
    client: httpx.AsyncClient,
    headers: Headers,
    make_person: MakePerson,
    db_session: AsyncSession,
    caplog: Any,
) -> None:
    person = await make_person()
    no = person["person_no"]
    first, second = generate_my_number(), generate_my_number()
    lookup = headers("atena:mynumber:lookup")

    async def holder(number: str) -> str | None:
        r = await client.post(
            "/persons/lookup-by-my-number", json={"my_number": number}, headers=lookup
        )
        return r.json()["person_no"] if r.status_code == 200 else None

    async def counts() -> tuple[int, int]:
        row = (
            await db_session.execute(
                text(
                    "SELECT (SELECT count(*) FROM person_my_number WHERE person_no = :no),"
                    " (SELECT count(*) FROM person_change WHERE person_no = :no)"
                ),
                {"no": no},
            )
        ).one()
        return row[0], row[1]

    r = await client.put(f"/persons/{no}/my-number", json={"my_number": first}, headers=headers())
    assert r.status_code == 200, r.text
    assert (r.json()["has_my_number"], r.json()["my_number"]) == (True, "********" + first[-4:])
    assert await holder(first) == no
    # The same number again changes nothing.
    before = await counts()
    r = await client.put(f"/persons/{no}/my-number", json={"my_number": first}, headers=headers())
    assert r.status_code == 200
    assert await counts() == before

    # A replacement needs its reason; without one, nothing changes.
    r = await client.put(f"/persons/{no}/my-number", json={"my_number": second}, headers=headers())
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"][-1] == "reason"
    assert second not in r.text
    assert await holder(first) == no
    r = await client.put(
        f"/persons/{no}/my-number",
        json={"my_number": second, "reason": "番号漏えいによる変更"},
        headers=headers(),
    )
    assert r.status_code == 200, r.text
    assert (await holder(first), await holder(second)) == (None, no)

    # Another person's number, a wrong check digit, another ward: refused, nothing changed.
    other = await make_person(my_number=(taken := generate_my_number()))
    before = await counts()
    r = await client.put(f"/persons/{no}/my-number", json={"my_number": taken}, headers=headers())
    assert r.status_code == 409
    bad = second[:11] + str((int(second[11]) + 1) % 10)
    r = await client.put(f"/persons/{no}/my-number", json={"my_number": bad}, headers=headers())
    assert r.status_code == 422
    r = await client.put(
        f"/persons/{no}/my-number",
        json={"my_number": generate_my_number()},
        headers=headers("atena:person:write", ward=YAHATA_NISHI),
    )
    assert r.status_code == 404  # another ward's resident is answered as nobody
    r = await client.put(
        f"/persons/{no}/my-number", json={"my_number": generate_my_number()}, headers=headers(READ)
    )
    assert r.status_code == 403
    assert await counts() == before
    assert await holder(taken) == other["person_no"]

    changes = (await client.get(f"/persons/{no}/changes", headers=headers())).json()["items"]
    assert [c["change_type"] for c in changes][-2:] == [
        "my_number_registered",
        "my_number_replaced",
    ]
    assert changes[-1]["reason"] == "番号漏えいによる変更"
    logged = await audit_rows(db_session, "person.my_number_replaced")
    assert [x.target_id for x in logged] == [no]
    # The numbers reach no outbox row, change row, access record or log line.
    dump = (
        (
            await db_session.execute(
                text(
                    "SELECT coalesce(string_agg(envelope::text, ''), '') FROM outbox"
                    " UNION ALL SELECT string_agg(before::text || after::text || detail::text, '')"
                    " FROM person_change"
                    " UNION ALL SELECT string_agg(detail::text, '') FROM audit_log"
                )
            )
        )
        .scalars()
        .all()
    )
    for number in (first, second, taken, bad):
        assert all(number not in (text_ or "") for text_ in dump)
        assert number not in caplog.text
