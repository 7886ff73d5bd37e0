from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.births.models import Child
from boshi_core.people.consumer import apply_person_event
from boshi_core.people.models import Person
from boshi_core.people.schemas import ChildSummary, PersonOut, PersonProfileOut, PregnancySummary
from boshi_core.pregnancy.models import Pregnancy
from boshi_core.testsupport import (
    KOKURA_NORTH,
    YAHATA_WEST,
    Auth,
    Register,
    notification,
    snapshot,
)
from boshi_core.visits.models import HomeVisit
from mch_common.audit import AuditRecord
from mch_common.dates import add_months_legal, today_tokyo
from mch_common.events import CloudEvent
from mch_common.events.tables import OutboxEvent
from mch_common.work import UnitOfWork

MOTHER = "1000000010"


async def open_pregnancy(client: httpx.AsyncClient, auth: Auth, **kwargs: Any) -> str:
    response = await client.post("/pregnancies", json=notification(**kwargs), headers=auth())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def birth(born: date, *, weight: int = 3100, sex: str = "female", **extra: Any) -> dict[str, Any]:
    return {
        "birth_date": born.isoformat(),
        "sex": sex,
        "birth_weight_g": weight,
        "gestational_weeks": 39,
        "gestational_days": 2,
        "birth_attendant": "doctor",
        "birth_place": "北九州市立医療センター",
        **extra,
    }


async def outbox_types(db: AsyncSession) -> list[str]:
    rows = await db.execute(select(OutboxEvent.subject).order_by(OutboxEvent.position))
    return list(rows.scalars())


async def test_a_birth_registers_the_child_schedules_visits_and_closes(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    pregnancy_id = await open_pregnancy(client, auth)
    born = today_tokyo() - timedelta(days=3)
    response = await client.post(
        f"/pregnancies/{pregnancy_id}/outcome",
        json={"outcome": "birth", "outcome_date": born.isoformat(), "births": [birth(born)]},
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "closed"
    child = body["children"][0]
    assert child["birth_weight_g"] == 3100
    assert child["low_birth_weight"] is False
    assert child["ward_code"] == KOKURA_NORTH
    visits = {v.kind: v for v in (await db_session.execute(select(HomeVisit))).scalars()}
    assert set(visits) == {"newborn", "infant_household"}
    assert visits["newborn"].due_by == born + timedelta(days=27)
    assert visits["infant_household"].due_by == add_months_legal(born, 4) - timedelta(days=1)
    types = await outbox_types(db_session)
    assert types[-2:] == ["boshi.child.registered", "boshi.pregnancy.closed"]
    # A closed pregnancy takes no more checkups or outcomes.
    again = await client.post(
        f"/pregnancies/{pregnancy_id}/outcome",
        json={"outcome": "miscarriage", "outcome_date": born.isoformat()},
        headers=auth(),
    )
    assert again.status_code == 409
    assert (await client.get(f"/children/{child['id']}", headers=auth())).status_code == 200


async def test_a_pregnancy_can_end_without_a_birth(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    pregnancy_id = await open_pregnancy(client, auth)
    bad = await client.post(
        f"/pregnancies/{pregnancy_id}/outcome",
        json={
            "outcome": "miscarriage",
            "outcome_date": today_tokyo().isoformat(),
            "births": [birth(today_tokyo())],
        },
        headers=auth(),
    )
    assert bad.status_code == 422
    response = await client.post(
        f"/pregnancies/{pregnancy_id}/outcome",
        json={
            "outcome": "miscarriage",
            "outcome_date": today_tokyo().isoformat(),
            "note": "妊娠11週",
        },
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    assert response.json() == {
        "pregnancy_id": pregnancy_id,
        "status": "closed",
        "outcome": "miscarriage",
        "children": [],
    }
    assert (await db_session.execute(select(func.count()).select_from(Child))).scalar_one() == 0
    checkup = await client.post(
        f"/pregnancies/{pregnancy_id}/checkups",
        json={"checkup_date": today_tokyo().isoformat(), "gestational_weeks": 12},
        headers=auth(),
    )
    assert checkup.status_code == 409
    # The mother may notify a new pregnancy once this one is closed.
    await open_pregnancy(client, auth)


async def test_atena_born_event_links_the_child_either_way_round(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    born = today_tokyo() - timedelta(days=1)
    # Twins: the outcome first for both, then atena's born events link them by mother.
    pregnancy_id = await open_pregnancy(client, auth, expected_children=2)
    response = await client.post(
        f"/pregnancies/{pregnancy_id}/outcome",
        json={
            "outcome": "birth",
            "outcome_date": born.isoformat(),
            "births": [
                birth(born, sex="female", weight=2300),
                birth(born, sex="male", weight=2600),
            ],
        },
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    for person_no, sex in (("2000000017", "male"), ("2000000025", "female")):
        event = CloudEvent(
            source="urn:mch:atena",
            type="atena.person.born",
            subject=person_no,
            tenant="401005",
            data={
                "person_no": person_no,
                "mother_person_no": MOTHER,
                "person": snapshot(
                    person_no, birth_date=born.isoformat(), sex=sex, mother_person_no=MOTHER
                ),
            },
        )
        async with UnitOfWork.on(db_session):  # as the consumer opens one
            await apply_person_event(db_session, event)
            await apply_person_event(db_session, event)  # a replay changes nothing
    children = {c.sex: c for c in (await db_session.execute(select(Child))).scalars()}
    assert children["male"].person_no == "2000000017"
    assert children["female"].person_no == "2000000025"
    assert children["male"].birth_weight_g == 2600

    # Another mother: atena's event first, the outcome after fills the same child record.
    other = "1000000028"
    await register(other, ward=YAHATA_WEST)
    other_pregnancy = await open_pregnancy(client, auth, person_no=other, ward=YAHATA_WEST)
    baby = "2000000033"
    async with UnitOfWork.on(db_session):  # as the consumer opens one
        await apply_person_event(
            db_session,
            CloudEvent(
                source="urn:mch:atena",
                type="atena.person.born",
                subject=baby,
                tenant="401005",
                data={
                    "person_no": baby,
                    "mother_person_no": other,
                    "person": snapshot(
                        baby,
                        ward=YAHATA_WEST,
                        birth_date=born.isoformat(),
                        sex="male",
                        mother_person_no=other,
                    ),
                },
            ),
        )
    linked = (await db_session.execute(select(Child).where(Child.person_no == baby))).scalar_one()
    assert linked.pregnancy_id is not None
    assert linked.birth_weight_g is None
    response = await client.post(
        f"/pregnancies/{other_pregnancy}/outcome",
        json={
            "outcome": "birth",
            "outcome_date": born.isoformat(),
            "births": [birth(born, sex="male")],
        },
        headers=auth(),
    )
    assert response.status_code == 201, response.text
    assert response.json()["children"][0]["person_no"] == baby
    assert (
        await db_session.execute(
            select(func.count()).select_from(Child).where(Child.mother_person_no == other)
        )
    ).scalar_one() == 1


async def test_low_birth_weight_notification_opens_a_premature_visit(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    pregnancy_id = await open_pregnancy(client, auth)
    born = today_tokyo() - timedelta(days=5)
    outcome = await client.post(
        f"/pregnancies/{pregnancy_id}/outcome",
        json={
            "outcome": "birth",
            "outcome_date": born.isoformat(),
            "births": [birth(born, weight=2499, gestational_weeks=35, birth_time="03:12")],
        },
        headers=auth(),
    )
    child = outcome.json()["children"][0]
    assert child["low_birth_weight"] is True
    form = {
        "notified_on": today_tokyo().isoformat(),
        "notifier_name": "北九 花子",
        "whereabouts": "北九州市立医療センター NICU",
        "contact_phone": "093-541-1831",
    }
    response = await client.post(
        f"/children/{child['id']}/low-birth-weight-notification", json=form, headers=auth()
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["birth_weight_g"] == 2499
    assert body["gestational_weeks"] == 35
    assert body["mother_person_no"] == MOTHER
    assert body["birth_place"] == "北九州市立医療センター"
    visit = await db_session.get(HomeVisit, body["premature_visit_id"])
    assert visit is not None
    assert visit.kind == "premature"
    assert visit.due_by == today_tokyo() + timedelta(days=14)
    assert "boshi.low_birth_weight.notified" in await outbox_types(db_session)
    twice = await client.post(
        f"/children/{child['id']}/low-birth-weight-notification", json=form, headers=auth()
    )
    assert twice.status_code == 409


async def test_normal_weight_is_refused_a_low_birth_weight_notification(
    client: httpx.AsyncClient, auth: Auth, register: Register
) -> None:
    await register(MOTHER)
    pregnancy_id = await open_pregnancy(client, auth)
    outcome = await client.post(
        f"/pregnancies/{pregnancy_id}/outcome",
        json={
            "outcome": "birth",
            "outcome_date": today_tokyo().isoformat(),
            "births": [birth(today_tokyo(), weight=2500)],
        },
        headers=auth(),
    )
    child = outcome.json()["children"][0]
    response = await client.post(
        f"/children/{child['id']}/low-birth-weight-notification",
        json={
            "notified_on": today_tokyo().isoformat(),
            "notifier_name": "北九 花子",
            "whereabouts": "自宅",
        },
        headers=auth(),
    )
    assert response.status_code == 422
    assert "not under 2500 g" in response.json()["detail"]


async def test_visit_windows_overdue_list_assignment_and_results(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    """Newborn visit due through day 27; infant household visit through the day before
    4 months (legal month age): the overdue list agrees with the age module on the boundary."""
    await register(MOTHER)
    born = date(2025, 10, 31)  # 4 months old from 1 March 2026 (no 31 February)
    pregnancy_id = await open_pregnancy(client, auth)
    # Backdate the pregnancy's notification so the outcome date is after it.
    pregnancy = await db_session.get(Pregnancy, pregnancy_id)
    assert pregnancy is not None
    pregnancy.notified_on = date(2025, 4, 1)
    await db_session.commit()
    await client.post(
        f"/pregnancies/{pregnancy_id}/outcome",
        json={"outcome": "birth", "outcome_date": born.isoformat(), "births": [birth(born)]},
        headers=auth(),
    )
    # Recorded today, the windows had ended: as if the birth had been recorded in time.
    await db_session.execute(update(HomeVisit).values(status="open", not_applicable_reason=None))
    await db_session.commit()

    async def overdue(as_of: date, **params: Any) -> dict[str, Any]:
        response = await client.get(
            "/visits/overdue", params={"as_of": as_of.isoformat(), **params}, headers=auth()
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    newborn_last = date(2025, 11, 27)  # day 27
    assert (await overdue(newborn_last))["items"] == []
    kinds = [v["kind"] for v in (await overdue(newborn_last + timedelta(days=1)))["items"]]
    assert kinds == ["newborn"]
    assert [v["kind"] for v in (await overdue(date(2026, 2, 28)))["items"]] == ["newborn"]
    late = (await overdue(date(2026, 3, 1)))["items"]
    assert [v["kind"] for v in late] == ["newborn", "infant_household"]
    assert late[1]["due_by"] == "2026-02-28"

    # Paging: one at a time, the cursor continues where the page ended.
    first = await overdue(date(2026, 3, 1), limit=1)
    assert len(first["items"]) == 1
    assert first["next_cursor"]
    second = await overdue(date(2026, 3, 1), limit=1, cursor=first["next_cursor"])
    assert [v["kind"] for v in second["items"]] == ["infant_household"]
    assert second["next_cursor"] is None
    bad_cursor = await client.get("/visits/overdue", params={"cursor": "nonsense"}, headers=auth())
    assert bad_cursor.status_code == 422
    # Another ward's staff do not see this ward's visits.
    other_ward = await client.get(
        "/visits/overdue", params={"as_of": "2026-03-01"}, headers=auth(ward=YAHATA_WEST)
    )
    assert other_ward.json()["items"] == []

    newborn_id = late[0]["id"]
    assigned = await client.post(
        f"/visits/{newborn_id}/assignment", json={"staff_id": "nurse-07"}, headers=auth()
    )
    assert assigned.status_code == 200
    assert assigned.json()["assigned_to"] == "nurse-07"
    done = await client.post(
        f"/visits/{newborn_id}/result",
        json={
            "visited_on": "2025-11-27",
            "child_weight_g": 3900,
            "feeding": "breast",
            "mother_epds_score": 4,
        },
        headers=auth(),
    )
    assert done.status_code == 200, done.text
    assert done.json()["within_window"] is True
    assert [v["kind"] for v in (await overdue(date(2026, 3, 1)))["items"]] == ["infant_household"]
    assert "boshi.visit.completed" in await outbox_types(db_session)
    again = await client.post(
        f"/visits/{newborn_id}/result", json={"visited_on": "2025-11-28"}, headers=auth()
    )
    assert again.status_code == 409

    # Completing a visit nobody was assigned: the staff member who completes it is its assignee.
    unassigned = late[1]
    assert unassigned["assigned_to"] is None
    done = await client.post(
        f"/visits/{unassigned['id']}/result",
        json={"visited_on": "2026-02-20"},
        headers=auth(sub="nurse-11"),
    )
    assert done.status_code == 200, done.text
    assert done.json()["assigned_to"] == "nurse-11"
    assert done.json()["assigned_at"] is not None
    completions = await db_session.execute(
        select(AuditRecord.detail)
        .where(AuditRecord.action == "visit.complete")
        .order_by(AuditRecord.seq)
    )
    assert [d.get("assigned_to") for d in completions.scalars()] == [None, "nurse-11"]


def born_event(person_no: str, mother: str, born: date) -> CloudEvent:
    return CloudEvent(
        source="urn:mch:atena",
        type="atena.person.born",
        subject=person_no,
        tenant="401005",
        data={
            "person_no": person_no,
            "mother_person_no": mother,
            "person": snapshot(
                person_no, birth_date=born.isoformat(), sex="male", mother_person_no=mother
            ),
        },
    )


async def test_a_late_registered_birth_opens_no_visit_whose_window_has_ended(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    today = today_tokyo()
    late, recent = date(2023, 6, 15), today - timedelta(days=40)
    async with UnitOfWork.on(db_session):  # as the consumer opens one
        await apply_person_event(db_session, born_event("2000000017", MOTHER, late))
        await apply_person_event(db_session, born_event("2000000025", MOTHER, recent))
    rows = await db_session.execute(
        select(Child.person_no, HomeVisit).join(HomeVisit, HomeVisit.child_id == Child.id)
    )
    visits = {(no, v.kind): v for no, v in rows}
    assert {k: v.status for k, v in visits.items()} == {
        ("2000000017", "newborn"): "not_applicable",
        ("2000000017", "infant_household"): "not_applicable",
        ("2000000025", "newborn"): "not_applicable",
        ("2000000025", "infant_household"): "open",
    }
    newborn = visits["2000000017", "newborn"]
    assert newborn.due_by == date(2023, 7, 12)
    assert newborn.not_applicable_reason == (
        "the newborn visit's window (under 28 days old) ended on 2023-07-12, "
        f"before the child became known on {today.isoformat()}"
    )
    assert visits["2000000025", "infant_household"].not_applicable_reason is None

    # Never overdue, and never assigned or completed.
    overdue = await client.get(
        "/visits/overdue",
        params={"as_of": (today + timedelta(days=200)).isoformat()},
        headers=auth(),
    )
    assert overdue.status_code == 200, overdue.text
    assert [v["id"] for v in overdue.json()["items"]] == [
        str(visits["2000000025", "infant_household"].id)
    ]
    response = await client.post(
        f"/visits/{newborn.id}/result", json={"visited_on": today.isoformat()}, headers=auth()
    )
    assert response.status_code == 409
    assert "not applicable" in response.json()["detail"]


async def test_a_profile_shows_what_the_models_read_from_the_objects(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    """The profile is read as the columns its answer shows (people.repository): the answer is
    the one its models give from the ORM's objects, pregnancies newest first, children oldest
    first, for a mother with twins and a pregnancy since."""
    await register(MOTHER, given_name_kana=None)
    first = await open_pregnancy(client, auth)
    born = today_tokyo() - timedelta(days=40)
    twins = [birth(born, weight=2450), birth(born - timedelta(days=1), weight=2600, sex="male")]
    outcome = await client.post(
        f"/pregnancies/{first}/outcome",
        json={"outcome": "birth", "outcome_date": born.isoformat(), "births": twins},
        headers=auth(),
    )
    assert outcome.status_code == 201, outcome.text
    second = await open_pregnancy(client, auth)
    await db_session.execute(
        update(Pregnancy).where(Pregnancy.id == first).values(notified_on=born - timedelta(90))
    )
    await db_session.commit()

    answer = await client.get(f"/people/{MOTHER}", headers=auth())
    assert answer.status_code == 200, answer.text
    person = await db_session.get(Person, MOTHER)
    pregnancies = (
        await db_session.scalars(
            select(Pregnancy)
            .where(Pregnancy.person_no == MOTHER)
            .order_by(Pregnancy.notified_on.desc())
        )
    ).all()
    children = (
        await db_session.scalars(
            select(Child).where(Child.mother_person_no == MOTHER).order_by(Child.birth_date)
        )
    ).all()
    from_objects = PersonProfileOut(
        person=PersonOut.model_validate(person),
        pregnancies=[PregnancySummary.model_validate(p) for p in pregnancies],
        children=[ChildSummary.model_validate(c) for c in children],
    )
    assert answer.json() == from_objects.model_dump(mode="json")
    shown = answer.json()
    assert [p["id"] for p in shown["pregnancies"]] == [second, first]
    assert [c["birth_weight_g"] for c in shown["children"]] == [2600, 2450]
    assert shown["person"]["given_name_kana"] is None
    assert shown["pregnancies"][1]["outcome"] == "birth"
