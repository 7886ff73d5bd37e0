"""Rules as data: staff with boshi:rules:admin add a version from a later date; it takes effect
on that date and not a day before; a version in force or past is never rewritten."""

from datetime import date, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.checkups.windows import Period
from boshi_core.pregnancy.models import VoucherRule
from boshi_core.rules.models import BirthRule
from boshi_core.rules.service import birth_rule_on
from boshi_core.testsupport import (
    CHECKUP_SCOPES,
    KOKURA_NORTH,
    MY_NUMBER,
    Auth,
    Clock,
    Register,
    Resident,
)
from boshi_core.testsupport import notification as notification_form
from boshi_core.visits.models import HomeVisit
from mch_common.audit import AuditRecord
from mch_common.dates import last_day_before_months, today_tokyo

ADMIN = ("boshi:rules:admin",)
MOTHER, OTHER_MOTHER = "1000000010", "1000000028"


def first_of_a_later_month() -> date:
    """The first day of the month after next: a date a version may take effect from, and a
    month's first day, which decides a month's programme version."""
    return Period.of(Period.of(today_tokyo()).last + timedelta(days=32)).last + timedelta(days=1)


async def add(
    client: httpx.AsyncClient, auth: Auth, path: str, sub: str = "rules-admin-1", **body: Any
) -> dict[str, Any]:
    response = await client.post(
        path, json={"source": "test: 要綱改正", **body}, headers=auth(ADMIN, sub=sub)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def open_pregnancy(client: httpx.AsyncClient, auth: Auth, person_no: str) -> str:
    response = await client.post("/pregnancies", json=notification_form(person_no), headers=auth())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_versions_are_listed_newest_first_paged_and_read_by_date(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    seed = await client.get("/rules/birth-follow-up", headers=auth())
    assert seed.status_code == 200, seed.text
    [version] = seed.json()["items"]
    assert version["low_birth_weight_below_g"] == 2500
    assert version["newborn_visit_days"] == 28
    assert version["infant_household_visit_months"] == 4
    assert version["premature_visit_due_days"] == 14
    assert version["recorded_by"] is None  # a migration's row

    later = first_of_a_later_month()
    for day in (later, later + timedelta(days=40)):
        await add(
            client,
            auth,
            "/rules/prenatal-vouchers",
            effective_from=day.isoformat(),
            base_count=15,
            extra_for_multiple=5,
        )
    first = (await client.get("/rules/prenatal-vouchers?limit=2", headers=auth())).json()
    assert [v["effective_from"] for v in first["items"]] == [
        (later + timedelta(days=40)).isoformat(),
        later.isoformat(),
    ]
    assert first["items"][0]["recorded_by"] == "rules-admin-1"
    rest = await client.get(
        f"/rules/prenatal-vouchers?limit=2&before={first['next_before']}", headers=auth()
    )
    assert [v["effective_from"] for v in rest.json()["items"]] == ["2015-04-01"]
    assert rest.json()["next_before"] is None

    def in_force(on: date) -> Any:
        return client.get(f"/rules/prenatal-vouchers/in-force?on={on.isoformat()}", headers=auth())

    assert (await in_force(later - timedelta(days=1))).json()["effective_from"] == "2015-04-01"
    assert (await in_force(later)).json()["effective_from"] == later.isoformat()
    missing = await in_force(date(2015, 3, 31))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_a_version_in_force_or_past_is_never_rewritten(
    client: httpx.AsyncClient, auth: Auth, db_session: AsyncSession
) -> None:
    async def count() -> int:
        stmt = select(func.count()).select_from(VoucherRule)
        return int((await db_session.execute(stmt)).scalar_one())

    before = await count()
    today = today_tokyo()
    for day in (today, today - timedelta(days=1), date(2015, 4, 1)):
        response = await client.post(
            "/rules/prenatal-vouchers",
            json={
                "effective_from": day.isoformat(),
                "base_count": 1,
                "extra_for_multiple": 0,
                "source": "rewrite",
            },
            headers=auth(ADMIN),
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "never rewritten" in response.json()["detail"]
    later = first_of_a_later_month()
    await add(
        client,
        auth,
        "/rules/prenatal-vouchers",
        effective_from=later.isoformat(),
        base_count=15,
        extra_for_multiple=5,
    )
    twice = await client.post(
        "/rules/prenatal-vouchers",
        json={
            "effective_from": later.isoformat(),
            "base_count": 20,
            "extra_for_multiple": 5,
            "source": "again",
        },
        headers=auth(ADMIN),
    )
    assert twice.status_code == 409, twice.text
    assert "already has a version effective from" in twice.json()["detail"]
    assert await count() == before + 1
    kept = await client.get(f"/rules/prenatal-vouchers/in-force?on={later}", headers=auth())
    assert kept.json()["base_count"] == 15


async def test_only_the_rules_admin_adds_and_every_addition_is_logged(
    client: httpx.AsyncClient, auth: Auth, db_session: AsyncSession
) -> None:
    later = first_of_a_later_month().isoformat()
    body = {"effective_from": later, "base_count": 15, "extra_for_multiple": 5, "source": "x"}
    refused = await client.post("/rules/prenatal-vouchers", json=body, headers=auth())
    assert refused.status_code == 403
    # Any MCH reader may read the rules; a programme reader too.
    assert (
        await client.get("/rules/prenatal-risk", headers=auth(CHECKUP_SCOPES))
    ).status_code == 200
    assert (
        await client.get("/rules/prenatal-risk", headers=auth(("boshi:center:read",)))
    ).status_code == 403

    await add(
        client,
        auth,
        "/rules/prenatal-vouchers",
        effective_from=later,
        base_count=15,
        extra_for_multiple=5,
        sub="rules-admin-logged",
    )
    record = (
        await db_session.execute(
            select(AuditRecord).where(
                AuditRecord.action == "rules.version.add", AuditRecord.actor == "rules-admin-logged"
            )
        )
    ).scalar_one()
    assert record.outcome == "success"
    assert record.target_type == "rule_version"
    assert record.detail["book"] == "prenatal_vouchers"
    assert record.detail["effective_from"] == later
    assert record.detail["base_count"] == 15


async def test_bad_versions_are_refused_and_change_nothing(
    client: httpx.AsyncClient, auth: Auth, db_session: AsyncSession
) -> None:
    async def versions_added() -> int:
        stmt = select(func.count()).where(AuditRecord.action == "rules.version.add")
        return int((await db_session.execute(stmt)).scalar_one())

    before = await versions_added()
    later = first_of_a_later_month().isoformat()
    programme = {
        "effective_from": later,
        "source": "x",
        "name": "4か月児健康診査",
        "start_months": 7,
        "end_months": 7,
        "reminder_days_before_end": 60,
        "detailed_exam_valid_days": 90,
    }
    inverted = await client.post(
        "/rules/checkup-programmes/4m", json=programme, headers=auth(ADMIN)
    )
    assert inverted.status_code == 422
    unknown = await client.post(
        "/rules/checkup-programmes/9m", json=programme | {"start_months": 3}, headers=auth(ADMIN)
    )
    assert unknown.status_code == 422
    risk = {"effective_from": later, "source": "x", "rules": {"hypertension": {"systolic": 1}}}
    assert (
        await client.post("/rules/prenatal-risk", json=risk, headers=auth(ADMIN))
    ).status_code == 422
    # Free text is guarded like every body: a My Number in the source is refused, not echoed.
    leaky = {
        "effective_from": later,
        "base_count": 15,
        "extra_for_multiple": 5,
        "source": f"決裁 {MY_NUMBER}",
    }
    refused = await client.post("/rules/prenatal-vouchers", json=leaky, headers=auth(ADMIN))
    assert refused.status_code == 422
    assert MY_NUMBER not in refused.text
    assert await versions_added() == before
    in_force = await client.get("/rules/checkup-programmes/4m/in-force", headers=auth())
    assert in_force.json()["start_months"] == 3


async def test_a_voucher_rule_takes_effect_on_its_date_not_a_day_before(
    client: httpx.AsyncClient, auth: Auth, register: Register, clock: Clock
) -> None:
    later = first_of_a_later_month()
    await add(
        client,
        auth,
        "/rules/prenatal-vouchers",
        effective_from=later.isoformat(),
        base_count=16,
        extra_for_multiple=5,
    )
    await register(MOTHER)
    await register(OTHER_MOTHER)
    counts = []
    for person_no, day in ((MOTHER, later - timedelta(days=1)), (OTHER_MOTHER, later)):
        clock.set(day)
        pregnancy_id = await open_pregnancy(client, auth, person_no)
        issued = await client.post(
            f"/pregnancies/{pregnancy_id}/handbooks",
            json={"ward_code": KOKURA_NORTH},
            headers=auth(),
        )
        assert issued.status_code == 201, issued.text
        counts.append(len(issued.json()["vouchers"]))
    assert counts == [14, 16]


async def test_risk_rules_take_effect_on_their_date_not_a_day_before(
    client: httpx.AsyncClient, auth: Auth, register: Register, clock: Clock
) -> None:
    later = first_of_a_later_month()
    added = await add(
        client,
        auth,
        "/rules/prenatal-risk",
        effective_from=later.isoformat(),
        rules={"hypertension": {"systolic_at_least": 130, "diastolic_at_least": 80}},
    )
    await register(MOTHER)
    pregnancy_id = await open_pregnancy(client, auth, MOTHER)
    judged = []
    for day in (later - timedelta(days=1), later):
        clock.set(day)
        checkup = await client.post(
            f"/pregnancies/{pregnancy_id}/checkups",
            json={
                "checkup_date": day.isoformat(),
                "gestational_weeks": 12,
                "systolic_bp": 135,
                "diastolic_bp": 70,
            },
            headers=auth(),
        )
        assert checkup.status_code == 201, checkup.text
        judged.append((checkup.json()["risk_rules_version"], checkup.json()["risk_flags"]))
    assert judged == [(1, []), (added["version"], ["hypertension"])]


async def test_the_birth_rule_of_the_birth_date_decides_weight_and_visit_windows(
    client: httpx.AsyncClient,
    auth: Auth,
    register: Register,
    db_session: AsyncSession,
    clock: Clock,
) -> None:
    later = first_of_a_later_month()
    await add(
        client,
        auth,
        "/rules/birth-follow-up",
        effective_from=later.isoformat(),
        low_birth_weight_below_g=2600,
        newborn_visit_days=30,
        infant_household_visit_months=5,
        premature_visit_due_days=10,
    )
    await register(MOTHER)
    await register(OTHER_MOTHER)
    pregnancies = [await open_pregnancy(client, auth, p) for p in (MOTHER, OTHER_MOTHER)]
    clock.set(later + timedelta(days=5))
    children = []
    for pregnancy_id, born in zip(pregnancies, (later - timedelta(days=1), later), strict=True):
        outcome = await client.post(
            f"/pregnancies/{pregnancy_id}/outcome",
            json={
                "outcome": "birth",
                "outcome_date": born.isoformat(),
                "births": [
                    {
                        "birth_date": born.isoformat(),
                        "sex": "female",
                        "birth_weight_g": 2550,
                        "gestational_weeks": 37,
                        "gestational_days": 0,
                        "birth_attendant": "doctor",
                        "birth_place": "北九州市立医療センター",
                    }
                ],
            },
            headers=auth(),
        )
        assert outcome.status_code == 201, outcome.text
        children.append(outcome.json()["children"][0])
    before, on = children
    assert (before["low_birth_weight"], on["low_birth_weight"]) == (False, True)

    async def due(child_id: str) -> dict[str, date]:
        rows = await db_session.execute(
            select(HomeVisit.kind, HomeVisit.due_by).where(HomeVisit.child_id == UUID(child_id))
        )
        return dict(rows.all())

    day_before = later - timedelta(days=1)
    assert await due(before["id"]) == {
        "newborn": day_before + timedelta(days=27),
        "infant_household": last_day_before_months(day_before, 4),
    }
    assert await due(on["id"]) == {
        "newborn": later + timedelta(days=29),
        "infant_household": last_day_before_months(later, 5),
    }
    notified_on = later + timedelta(days=5)
    notice = {
        "notified_on": notified_on.isoformat(),
        "notifier_name": "北九 花子",
        "whereabouts": "自宅",
    }
    refused = await client.post(
        f"/children/{before['id']}/low-birth-weight-notification", json=notice, headers=auth()
    )
    assert refused.status_code == 422
    assert "not under 2500 g" in refused.json()["detail"]
    accepted = await client.post(
        f"/children/{on['id']}/low-birth-weight-notification", json=notice, headers=auth()
    )
    assert accepted.status_code == 201, accepted.text
    assert (await due(on["id"]))["premature"] == notified_on + timedelta(days=10)


async def test_the_premature_visit_days_are_the_rule_of_the_notification_date(
    db_session: AsyncSession,
) -> None:
    """A seed-rule child notified on a day a new version is in force gets the new days."""
    later = first_of_a_later_month()
    db_session.add(
        BirthRule(
            effective_from=later,
            low_birth_weight_below_g=2500,
            newborn_visit_days=28,
            infant_household_visit_months=4,
            premature_visit_due_days=7,
            source="test",
        )
    )
    await db_session.flush()
    assert (
        await birth_rule_on(db_session, later - timedelta(days=1), field="on")
    ).premature_visit_due_days == 14
    assert (await birth_rule_on(db_session, later, field="on")).premature_visit_due_days == 7


async def test_a_programme_version_takes_effect_from_its_month_and_voucher_day(
    client: httpx.AsyncClient, auth: Auth, resident: Resident, clock: Clock, programmes: None
) -> None:
    later = first_of_a_later_month()
    await add(
        client,
        auth,
        "/rules/checkup-programmes/4m",
        effective_from=later.isoformat(),
        name="4か月児健康診査 (4-month checkup)",
        start_months=4,
        end_months=7,
        reminder_days_before_end=30,
        detailed_exam_valid_days=60,
    )
    readers = auth(CHECKUP_SCOPES)

    async def four_months(month: date) -> dict[str, Any]:
        listed = await client.get(
            f"/checkups/programmes?month={Period.of(month)!s}", headers=readers
        )
        assert listed.status_code == 200, listed.text
        programme: dict[str, Any] = next(p for p in listed.json() if p["code"] == "4m")
        return programme

    assert (await four_months(later - timedelta(days=1)))["start_months"] == 3
    assert (await four_months(later))["start_months"] == 4
    assert (await four_months(later))["reminder_days_before_end"] == 30

    valid_days = []
    for person_no, day in (("2000000301", later - timedelta(days=1)), ("2000000302", later)):
        await resident(person_no, day - timedelta(days=130))
        clock.set(day)
        result = await client.post(
            f"/checkups/children/{person_no}/results",
            json={
                "programme": "4m",
                "examined_on": day.isoformat(),
                "institution": "小倉医院",
                "judgement": "detailed_exam",
                "detailed_exam_reason": "心雑音",
            },
            headers=readers,
        )
        assert result.status_code == 201, result.text
        voucher = result.json()["voucher"]
        valid_days.append(
            (
                date.fromisoformat(voucher["valid_until"])
                - date.fromisoformat(voucher["issued_on"])
            ).days
        )
    assert valid_days == [90, 60]


async def test_the_database_refuses_to_rewrite_a_version_in_force_even_for_the_service(
    db_session: AsyncSession,
) -> None:
    """The runtime role cannot change or delete a version in force or past (a trigger); a
    version still to come may be withdrawn."""
    for statement in (
        update(VoucherRule)
        .where(VoucherRule.effective_from == date(2015, 4, 1))
        .values(base_count=1),
        delete(BirthRule).where(BirthRule.effective_from == date(1966, 1, 1)),
        update(BirthRule).values(effective_from=today_tokyo()),
    ):
        with pytest.raises(DBAPIError, match="never rewritten"):
            async with db_session.begin_nested():
                await db_session.execute(statement)
    later = first_of_a_later_month()
    db_session.add(
        VoucherRule(effective_from=later, base_count=15, extra_for_multiple=5, source="test")
    )
    await db_session.flush()
    withdrawn = await db_session.execute(
        delete(VoucherRule).where(VoucherRule.effective_from == later)
    )
    assert withdrawn.rowcount == 1  # type: ignore[attr-defined]


async def test_a_version_still_to_come_may_be_withdrawn_one_in_force_never(
    client: httpx.AsyncClient, auth: Auth, db_session: AsyncSession
) -> None:
    later = first_of_a_later_month()
    await add(
        client,
        auth,
        "/rules/checkup-programmes/3y",
        effective_from=later.isoformat(),
        name="3歳児健康診査",
        start_months=36,
        end_months=49,  # a typo: 48 was meant
        reminder_days_before_end=60,
        detailed_exam_valid_days=90,
    )
    path = f"/rules/checkup-programmes/3y/{later.isoformat()}"
    assert (await client.delete(path, headers=auth())).status_code == 403
    withdrawn = await client.delete(path, headers=auth(ADMIN, sub="rules-admin-withdraw"))
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["end_months"] == 49
    in_force = await client.get(f"/rules/checkup-programmes/3y/in-force?on={later}", headers=auth())
    assert in_force.json()["end_months"] == 48
    assert (await client.delete(path, headers=auth(ADMIN))).status_code == 404
    record = (
        await db_session.execute(
            select(AuditRecord).where(
                AuditRecord.action == "rules.version.withdraw",
                AuditRecord.actor == "rules-admin-withdraw",
            )
        )
    ).scalar_one()
    assert record.detail["withdrawn"]["end_months"] == 49
    # The same date can now be given the version meant.
    await add(
        client,
        auth,
        "/rules/checkup-programmes/3y",
        effective_from=later.isoformat(),
        name="3歳児健康診査",
        start_months=36,
        end_months=48,
        reminder_days_before_end=30,
        detailed_exam_valid_days=90,
    )
    seed = await client.delete("/rules/prenatal-vouchers/2015-04-01", headers=auth(ADMIN))
    assert seed.status_code == 409
    assert "never rewritten or withdrawn" in seed.json()["detail"]
    kept = await client.get("/rules/prenatal-vouchers/in-force?on=2020-01-01", headers=auth())
    assert kept.json()["base_count"] == 14
