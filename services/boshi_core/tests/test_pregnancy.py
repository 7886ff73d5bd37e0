from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.people.schemas import MyNumberSearchIn
from boshi_core.pregnancy.models import Handbook, Pregnancy, PrenatalVoucher
from boshi_core.pregnancy.schemas import WindowNotificationIn
from boshi_core.testsupport import (
    KOKURA_NORTH,
    MY_NUMBER,
    YAHATA_WEST,
    Auth,
    FakeAtena,
    Register,
    notification,
)
from mch_common.audit import AuditRecord
from mch_common.dates import today_tokyo
from mch_common.events.tables import OutboxEvent

MOTHER = "1000000010"


async def counts(db: AsyncSession) -> tuple[int, int, int, int]:
    async def count(model: Any) -> int:
        return int((await db.execute(select(func.count()).select_from(model))).scalar_one())

    return (
        await count(Pregnancy),
        await count(Handbook),
        await count(OutboxEvent),
        await count(AuditRecord),
    )


async def outbox_types(db: AsyncSession) -> list[str]:
    return list(
        (await db.execute(select(OutboxEvent.subject).order_by(OutboxEvent.position))).scalars()
    )


async def open_one(client: httpx.AsyncClient, auth: Auth, **kwargs: Any) -> dict[str, Any]:
    response = await client.post("/pregnancies", json=notification(**kwargs), headers=auth())
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_window_notification_opens_a_pregnancy_and_logs_it(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    body = await open_one(client, auth)
    assert body["person_no"] == MOTHER
    assert body["channel"] == "window"
    assert body["status"] == "open"
    assert body["id_document_type"] == "my_number_card"
    assert body["age_at_notification"] >= 31
    assert body["diagnosed_by"].startswith("小倉")
    assert await outbox_types(db_session) == ["boshi.pregnancy.opened"]
    audit = (
        await db_session.execute(
            select(AuditRecord).where(
                AuditRecord.action == "pregnancy.open", AuditRecord.target_id == MOTHER
            )
        )
    ).scalar_one()
    assert audit.target_id == MOTHER
    assert audit.terminal == "TERM-0001"

    view = await client.get(f"/pregnancies/{body['id']}", headers=auth())
    assert view.status_code == 200
    assert (
        await db_session.execute(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.action == "pregnancy.view", AuditRecord.target_id == MOTHER)
        )
    ).scalar_one() == 1


async def test_notification_for_a_person_atena_does_not_know(
    client: httpx.AsyncClient, auth: Auth, db_session: AsyncSession
) -> None:
    before = await counts(db_session)
    response = await client.post("/pregnancies", json=notification("1999999990"), headers=auth())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/unknown-person")
    assert "not registered in atena" in problem["detail"]
    assert await counts(db_session) == before


async def test_bad_input_is_a_problem_and_changes_nothing(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    before = await counts(db_session)
    bad_bodies = [
        notification(weeks=60),
        notification(collection_ward_code="401005"),  # the city, not a ward
        notification(expected_delivery_date=(today_tokyo() - timedelta(days=1)).isoformat()),
        notification(contact_email="not-an-email"),
        {**notification(), "my_number": MY_NUMBER},  # both ways to find the person
        {**notification(), "unexpected": 1},
        notification(birth_date="1990-01-01"),  # disagrees with atena's record
    ]
    for body in bad_bodies:
        response = await client.post("/pregnancies", json=body, headers=auth())
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert MY_NUMBER not in response.text
    assert await counts(db_session) == before


async def test_a_my_number_in_free_text_is_refused_without_echo(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    before = await counts(db_session)
    typed = f"{MY_NUMBER[:4]}-{MY_NUMBER[4:8]}-{MY_NUMBER[8:]}"
    for body in (
        notification(occupation=f"会社員 {MY_NUMBER}"),
        notification(contact_address=f"小倉北区城内1-1 {MY_NUMBER}9"),  # glued to a digit
        # As printed on the card: three groups of four.
        notification(occupation=f"会社員 {MY_NUMBER[:4]} {MY_NUMBER[4:8]} {MY_NUMBER[8:]}"),
        notification(None)
        | {
            "my_number": typed,
            "identity_check": {"document_type": "my_number_card", "checked_by": MY_NUMBER},
        },
    ):
        response = await client.post("/pregnancies", json=body, headers=auth())
        assert response.status_code == 422, response.text
        assert MY_NUMBER not in response.text
        assert f"{MY_NUMBER[:4]} {MY_NUMBER[4:8]}" not in response.text
        assert "holds what looks like a My Number" in response.text
    assert await counts(db_session) == before


async def test_second_open_pregnancy_is_a_conflict_and_changes_nothing(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    await open_one(client, auth)
    before = await counts(db_session)
    response = await client.post("/pregnancies", json=notification(), headers=auth())
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "already has an open pregnancy" in response.json()["detail"]
    assert await counts(db_session) == before


async def test_scopes_and_wards_are_enforced(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    response = await client.post(
        "/pregnancies", json=notification(), headers=auth(("boshi:pregnancy:read",))
    )
    assert response.status_code == 403
    response = await client.post(
        "/pregnancies", json=notification(), headers=auth(ward=YAHATA_WEST)
    )
    assert response.status_code == 403
    assert (await client.post("/pregnancies", json=notification())).status_code == 401
    pregnancy = await open_one(client, auth)
    assert (
        await client.get(f"/pregnancies/{pregnancy['id']}", headers=auth(ward=YAHATA_WEST))
    ).status_code == 403
    assert (
        await client.get(f"/pregnancies/{pregnancy['id']}", headers=auth(ward=KOKURA_NORTH))
    ).status_code == 200
    assert (
        await client.get(f"/people/{MOTHER}", headers=auth(ward=YAHATA_WEST))
    ).status_code == 404  # another ward's resident is answered as nobody


async def test_search_by_my_number_goes_through_atena_and_stores_no_number(
    client: httpx.AsyncClient,
    auth: Auth,
    register: Register,
    fake_atena: FakeAtena,
    db_session: AsyncSession,
) -> None:
    await register(MOTHER)
    fake_atena.known[MY_NUMBER] = MOTHER
    response = await client.post(
        "/people/search-by-my-number", json={"my_number": MY_NUMBER}, headers=auth()
    )
    assert response.status_code == 200, response.text
    assert response.json()["person"]["person_no"] == MOTHER
    # The window intake accepts the form's My Number in place of the person number.
    intake = await client.post(
        "/pregnancies", json=notification(None) | {"my_number": MY_NUMBER}, headers=auth()
    )
    assert intake.status_code == 201, intake.text
    assert intake.json()["person_no"] == MOTHER
    lookups = (
        (
            await db_session.execute(
                select(AuditRecord).where(AuditRecord.action == "person.lookup_by_my_number")
            )
        )
        .scalars()
        .all()
    )
    assert [r.target_id for r in lookups] == [MOTHER, MOTHER]
    # Nowhere in what boshi_core wrote is the number.
    for model in (AuditRecord, OutboxEvent, Pregnancy):
        for row in (await db_session.execute(select(model))).scalars():
            assert MY_NUMBER not in repr(
                {c: getattr(row, c) for c in model.__table__.columns.keys()}
            )
    unknown = await client.post(
        "/people/search-by-my-number", json={"my_number": "000000000019"}, headers=auth()
    )
    assert unknown.status_code in (404, 422)
    fake_atena.down = True
    down = await client.post(
        "/people/search-by-my-number", json={"my_number": MY_NUMBER}, headers=auth()
    )
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"


async def test_single_pregnancy_gets_one_handbook_and_14_vouchers(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    pregnancy = await open_one(client, auth)
    response = await client.post(
        f"/pregnancies/{pregnancy['id']}/handbooks",
        json={"ward_code": KOKURA_NORTH},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body["handbooks"]) == 1
    assert len(body["vouchers"]) == 14
    number = body["handbooks"][0]["handbook_no"]
    fiscal_year = today_tokyo().year if today_tokyo().month >= 4 else today_tokyo().year - 1
    assert number == f"{fiscal_year}-06-00001"
    again = await client.post(
        f"/pregnancies/{pregnancy['id']}/handbooks",
        json={"ward_code": KOKURA_NORTH},
        headers=auth(),
    )
    assert again.status_code == 409


async def test_twins_get_two_handbooks_and_extra_vouchers(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    await register("1000000028")
    first = await open_one(client, auth, person_no="1000000028")
    await client.post(
        f"/pregnancies/{first['id']}/handbooks", json={"ward_code": KOKURA_NORTH}, headers=auth()
    )
    twins = await open_one(client, auth, expected_children=2)
    response = await client.post(
        f"/pregnancies/{twins['id']}/handbooks", json={"ward_code": KOKURA_NORTH}, headers=auth()
    )
    assert response.status_code == 201, response.text
    body = response.json()
    numbers = [h["handbook_no"] for h in body["handbooks"]]
    assert [h["child_index"] for h in body["handbooks"]] == [1, 2]
    assert [n[-5:] for n in numbers] == ["00002", "00003"]  # consecutive, after the first issue
    assert len(body["vouchers"]) == 14 + 5
    assert (await outbox_types(db_session)).count("boshi.handbook.issued") == 3
    voucher_count = (
        await db_session.execute(
            select(func.count())
            .select_from(PrenatalVoucher)
            .where(PrenatalVoucher.pregnancy_id == twins["id"])
        )
    ).scalar_one()
    assert voucher_count == 19


async def test_a_pregnancy_found_to_be_twins_gets_the_second_handbook_and_extra_vouchers(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    pregnancy = await open_one(client, auth)
    url = f"/pregnancies/{pregnancy['id']}"
    first = await client.post(f"{url}/handbooks", json={"ward_code": KOKURA_NORTH}, headers=auth())
    assert first.status_code == 201, first.text
    assert len(first.json()["vouchers"]) == 14

    change = {"expected_children": 2, "reason": "妊婦健診で双胎と判明"}
    changed = await client.post(
        f"{url}/expected-children", json=change, headers=auth(sub="staff-0002")
    )
    assert changed.status_code == 201, changed.text
    assert changed.json()["previous"] == 1
    assert changed.json()["changed_by"] == "staff-0002"
    assert changed.json()["changed_at"]
    same = await client.post(f"{url}/expected-children", json=change, headers=auth())
    assert same.status_code == 422

    # The second issuance gives what the new count entitles to: handbook 2 and 5 more vouchers.
    second = await client.post(f"{url}/handbooks", json={"ward_code": KOKURA_NORTH}, headers=auth())
    assert second.status_code == 201, second.text
    [handbook] = second.json()["handbooks"]
    assert handbook["child_index"] == 2
    assert [v["seq"] for v in second.json()["vouchers"]] == list(range(15, 20))
    assert all(
        v["voucher_no"].startswith(handbook["handbook_no"]) for v in second.json()["vouchers"]
    )
    again = await client.post(f"{url}/handbooks", json={"ward_code": KOKURA_NORTH}, headers=auth())
    assert again.status_code == 409
    fewer = {"expected_children": 1, "reason": "入力誤り"}
    refused = await client.post(f"{url}/expected-children", json=fewer, headers=auth())
    assert refused.status_code == 409

    view = (await client.get(url, headers=auth())).json()
    assert view["pregnancy"]["expected_children"] == 2
    assert len(view["handbooks"]) == 2
    assert len(view["vouchers"]) == 19
    [history] = view["expected_children_changes"]
    assert (history["previous"], history["expected_children"], history["reason"]) == (
        1,
        2,
        "妊婦健診で双胎と判明",
    )
    types = await outbox_types(db_session)
    assert types.count("boshi.pregnancy.expected_children_changed") == 1
    assert types.count("boshi.handbook.issued") == 2
    records = await db_session.execute(
        select(AuditRecord.actor, AuditRecord.detail).where(
            AuditRecord.action == "pregnancy.expected_children.change"
        )
    )
    [(actor, detail)] = records.all()
    assert (actor, detail["previous"], detail["expected_children"]) == ("staff-0002", 1, 2)


async def test_checkups_use_vouchers_once_and_flag_risks(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    # 16 at the expected delivery: a teenage mother.
    edd = today_tokyo() + timedelta(days=150)
    birth = date(edd.year - 16, 1, 1).isoformat()
    await register(MOTHER, birth_date=birth)
    pregnancy = await open_one(
        client, auth, birth_date=birth, expected_delivery_date=edd.isoformat(), weeks=22
    )
    issued = (
        await client.post(
            f"/pregnancies/{pregnancy['id']}/handbooks",
            json={"ward_code": KOKURA_NORTH},
            headers=auth(),
        )
    ).json()
    voucher = issued["vouchers"][0]["voucher_no"]
    checkup = {
        "checkup_date": today_tokyo().isoformat(),
        "gestational_weeks": 22,
        "systolic_bp": 142,
        "diastolic_bp": 85,
        "urine_protein": "+",
        "urine_sugar": "-",
        "weight_kg": "58.5",
        "oedema": "-",
        "findings": "特記なし",
        "voucher_no": voucher,
    }
    response = await client.post(
        f"/pregnancies/{pregnancy['id']}/checkups", json=checkup, headers=auth()
    )
    assert response.status_code == 201, response.text
    first = response.json()
    assert set(first["risk_flags"]) == {"hypertension", "late_first_checkup", "teenage_mother"}
    assert first["voucher_no"] == voucher
    before = await counts(db_session)
    reuse = await client.post(
        f"/pregnancies/{pregnancy['id']}/checkups", json=checkup, headers=auth()
    )
    assert reuse.status_code == 409
    assert await counts(db_session) == before
    wrong = await client.post(
        f"/pregnancies/{pregnancy['id']}/checkups",
        json=checkup | {"voucher_no": "2026-06-99999-01"},
        headers=auth(),
    )
    assert wrong.status_code == 422
    bad = await client.post(
        f"/pregnancies/{pregnancy['id']}/checkups",
        json=checkup | {"urine_protein": "lots"},
        headers=auth(),
    )
    assert bad.status_code == 422
    normal = checkup | {
        "systolic_bp": 118,
        "diastolic_bp": 70,
        "voucher_no": issued["vouchers"][1]["voucher_no"],
        "gestational_weeks": 24,
    }
    second = (
        await client.post(f"/pregnancies/{pregnancy['id']}/checkups", json=normal, headers=auth())
    ).json()
    assert second["risk_flags"] == ["teenage_mother"]  # not the first checkup any more
    view = (await client.get(f"/pregnancies/{pregnancy['id']}", headers=auth())).json()
    assert view["risk_flags"] == ["hypertension", "late_first_checkup", "teenage_mother"]
    assert [v["used_on"] is not None for v in view["vouchers"][:3]] == [True, True, False]


async def test_older_mother_flag_uses_age_at_expected_delivery(
    client: httpx.AsyncClient, auth: Auth, register: Register
) -> None:
    edd = today_tokyo() + timedelta(days=100)
    birth = (
        date(edd.year - 35, edd.month, edd.day).isoformat()
        if not (edd.month == 2 and edd.day == 29)
        else date(edd.year - 35, 3, 1).isoformat()
    )
    await register(MOTHER, birth_date=birth)
    pregnancy = await open_one(
        client, auth, birth_date=birth, expected_delivery_date=edd.isoformat()
    )
    response = await client.post(
        f"/pregnancies/{pregnancy['id']}/checkups",
        json={"checkup_date": today_tokyo().isoformat(), "gestational_weeks": 12},
        headers=auth(),
    )
    assert response.json()["risk_flags"] == ["older_mother"]


def test_a_parsed_my_number_is_never_shown() -> None:
    full_width = MY_NUMBER.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    body = WindowNotificationIn.model_validate(notification(None) | {"my_number": full_width})
    search = MyNumberSearchIn.model_validate({"my_number": MY_NUMBER})
    for parsed in (body, search):
        assert MY_NUMBER not in repr(parsed)
        assert MY_NUMBER not in parsed.model_dump_json()
    assert body.my_number is not None
    assert body.my_number.get_secret_value() == search.my_number.get_secret_value() == MY_NUMBER
