"""Dates a record states (an issue, a birth, a checkup, an application) are bad input when
they lie in the future (today in Asia/Tokyo) or before the first version of the rule that
judges them (the birth follow-up rules from 1966-01-01, the voucher and risk rules from
2015-04-01): 422 problem+json saying why, and nothing changed."""

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.births.models import Child
from boshi_core.people.consumer import apply_person_event
from boshi_core.pregnancy.models import Handbook, Pregnancy, PrenatalCheckup
from boshi_core.testsupport import KOKURA_NORTH, Auth, Register, notification
from boshi_core.testsupport import child as child_snapshot
from boshi_core.visits.models import HomeVisit
from mch_common.audit import AuditRecord
from mch_common.dates import today_tokyo
from mch_common.errors import InvalidInput
from mch_common.events import CloudEvent
from mch_common.events.tables import OutboxEvent
from mch_common.work import UnitOfWork

MOTHER = "1000000010"
BEFORE_BIRTH_RULES = date(1965, 12, 31)  # the first birth follow-up rule: 1966-01-01
BEFORE_PRENATAL_RULES = date(2015, 3, 31)  # the first voucher and risk rules: 2015-04-01


async def snapshot_of(db: AsyncSession) -> dict[str, Any]:
    """What a refused request must leave as it was."""

    async def count(model: Any) -> int:
        return int((await db.execute(select(func.count()).select_from(model))).scalar_one())

    return {
        "tables": [
            await count(m)
            for m in (
                Pregnancy,
                Handbook,
                PrenatalCheckup,
                Child,
                HomeVisit,
                OutboxEvent,
                AuditRecord,
            )
        ],
        "pregnancies": (
            await db.execute(select(Pregnancy.id, Pregnancy.status).order_by(Pregnancy.id))
        ).all(),
    }


def assert_refused(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    for word in words:
        assert word in response.json()["detail"], response.json()


async def open_pregnancy(client: httpx.AsyncClient, auth: Auth) -> str:
    response = await client.post("/pregnancies", json=notification(), headers=auth())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def birth(born: date) -> dict[str, Any]:
    return {
        "birth_date": born.isoformat(),
        "sex": "female",
        "birth_weight_g": 2300,
        "gestational_weeks": 36,
        "birth_attendant": "doctor",
        "birth_place": "北九州市立医療センター",
    }


def checkup(on: date) -> dict[str, Any]:
    return {"checkup_date": on.isoformat(), "gestational_weeks": 12, "systolic_bp": 150}


@pytest.fixture
async def pregnancy_id(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> str:
    await register(MOTHER)
    return await open_pregnancy(client, auth)


async def test_a_birth_before_the_first_birth_rule_is_refused(
    client: httpx.AsyncClient, auth: Auth, pregnancy_id: str, db_session: AsyncSession
) -> None:
    before = await snapshot_of(db_session)
    response = await client.post(
        f"/pregnancies/{pregnancy_id}/outcome",
        json={
            "outcome": "birth",
            "outcome_date": BEFORE_BIRTH_RULES.isoformat(),
            "births": [birth(BEFORE_BIRTH_RULES)],
        },
        headers=auth(),
    )
    assert_refused(response, "births[0].birth_date", "1966-01-01")
    assert BEFORE_BIRTH_RULES.isoformat() not in response.text  # the reason, not the value
    assert await snapshot_of(db_session) == before
    # Twins either side of the first rule's day: the second child is refused, the first too.
    twins = await client.post(
        f"/pregnancies/{pregnancy_id}/outcome",
        json={
            "outcome": "birth",
            "outcome_date": "1966-01-01",
            "births": [birth(date(1966, 1, 1)), birth(BEFORE_BIRTH_RULES)],
        },
        headers=auth(),
    )
    assert_refused(twins, "births[1].birth_date", "1966-01-01")
    assert await snapshot_of(db_session) == before


async def test_a_birth_in_the_future_is_refused(
    client: httpx.AsyncClient, auth: Auth, pregnancy_id: str, db_session: AsyncSession
) -> None:
    before = await snapshot_of(db_session)
    today = today_tokyo()
    response = await client.post(
        f"/pregnancies/{pregnancy_id}/outcome",
        json={
            "outcome": "birth",
            "outcome_date": today.isoformat(),
            "births": [birth(today + timedelta(days=1))],  # within the day the outcome allows
        },
        headers=auth(),
    )
    assert_refused(response, "births[0].birth_date", "future")
    assert await snapshot_of(db_session) == before
    born_today = await client.post(
        f"/pregnancies/{pregnancy_id}/outcome",
        json={"outcome": "birth", "outcome_date": today.isoformat(), "births": [birth(today)]},
        headers=auth(),
    )
    assert born_today.status_code == 201, born_today.text


async def test_a_prenatal_checkup_before_the_first_risk_rules_is_refused(
    client: httpx.AsyncClient, auth: Auth, pregnancy_id: str, db_session: AsyncSession
) -> None:
    before = await snapshot_of(db_session)
    response = await client.post(
        f"/pregnancies/{pregnancy_id}/checkups",
        json=checkup(BEFORE_PRENATAL_RULES),
        headers=auth(),
    )
    assert_refused(response, "checkup_date", "2015-04-01")
    assert await snapshot_of(db_session) == before


async def test_a_handbook_issued_in_the_future_is_refused(
    client: httpx.AsyncClient, auth: Auth, pregnancy_id: str, db_session: AsyncSession
) -> None:
    before = await snapshot_of(db_session)
    tomorrow = today_tokyo() + timedelta(days=1)
    response = await client.post(
        f"/pregnancies/{pregnancy_id}/handbooks",
        json={"ward_code": KOKURA_NORTH, "issued_on": tomorrow.isoformat()},
        headers=auth(),
    )
    assert_refused(response, "issued_on", "future")
    assert await snapshot_of(db_session) == before
    today = await client.post(
        f"/pregnancies/{pregnancy_id}/handbooks",
        json={"ward_code": KOKURA_NORTH, "issued_on": today_tokyo().isoformat()},
        headers=auth(),
    )
    assert today.status_code == 201, today.text


async def test_a_handbook_issued_before_the_first_voucher_rule_is_refused(
    client: httpx.AsyncClient, auth: Auth, pregnancy_id: str, db_session: AsyncSession
) -> None:
    # A pregnancy notified before the voucher rules began (a record from an older system).
    await db_session.execute(
        update(Pregnancy)
        .where(Pregnancy.id == pregnancy_id)
        .values(notified_on=BEFORE_PRENATAL_RULES - timedelta(days=30))
    )
    await db_session.commit()
    before = await snapshot_of(db_session)
    response = await client.post(
        f"/pregnancies/{pregnancy_id}/handbooks",
        json={"ward_code": KOKURA_NORTH, "issued_on": BEFORE_PRENATAL_RULES.isoformat()},
        headers=auth(),
    )
    assert_refused(response, "issued_on", "2015-04-01")
    assert await snapshot_of(db_session) == before


async def test_a_window_notification_dated_in_the_future_is_refused(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    await register(MOTHER)
    before = await snapshot_of(db_session)
    tomorrow = today_tokyo() + timedelta(days=1)
    response = await client.post(
        "/pregnancies", json=notification(application_date=tomorrow.isoformat()), headers=auth()
    )
    assert_refused(response, "application_date", "future")
    assert await snapshot_of(db_session) == before


async def test_a_child_on_record_from_before_the_birth_rules_is_answered_why(
    client: httpx.AsyncClient, auth: Auth, register: Register, db_session: AsyncSession
) -> None:
    """No route stores such a child any more; one from an older system is answered with the
    reason (422), not as if the service were down."""
    await register(MOTHER)
    child = Child(
        mother_person_no=MOTHER,
        birth_date=BEFORE_BIRTH_RULES,
        birth_weight_g=2100,
        gestational_weeks=35,
        sex="female",
        ward_code=KOKURA_NORTH,
        registered_via="outcome",
    )
    db_session.add(child)
    await db_session.commit()
    before = await snapshot_of(db_session)
    viewed = await client.get(f"/children/{child.id}", headers=auth())
    assert_refused(viewed, "the child's birth date", "1966-01-01")
    notified = await client.post(
        f"/children/{child.id}/low-birth-weight-notification",
        json={
            "notified_on": today_tokyo().isoformat(),
            "notifier_name": "北九 花子",
            "whereabouts": "自宅",
        },
        headers=auth(),
    )
    assert_refused(notified, "the child's birth date", "1966-01-01")
    assert await snapshot_of(db_session) == before


async def test_atena_announcing_a_birth_before_the_birth_rules_fails_the_handler(
    register: Register, db_session: AsyncSession
) -> None:
    """The consumer's handler raises the same reason (so the event is retried, then
    dead-lettered, alone) and its transaction keeps nothing."""
    await register(MOTHER)
    event = CloudEvent(
        source="urn:mch:atena",
        type="atena.person.born",
        subject="2000000401",
        tenant="401005",
        data={
            "person_no": "2000000401",
            "mother_person_no": MOTHER,
            "person": child_snapshot(
                "2000000401", BEFORE_BIRTH_RULES, mother_person_no=MOTHER, household_no="H401"
            ),
        },
    )
    with pytest.raises(InvalidInput, match="1966-01-01"):
        async with UnitOfWork.on(db_session):
            await apply_person_event(db_session, event)
    await db_session.rollback()
    assert (await db_session.execute(select(func.count()).select_from(Child))).scalar_one() == 0
