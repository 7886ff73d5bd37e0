"""A child moving from Fukuoka City to Kitakyushu: Kitakyushu's boshi_core asks, through the
intermediate server and its simulated hub, for Fukuoka's checkup records (item 95), keeps
them marked with their source and date, and its extraction does not invite the child to the
checkup already done there. A woman of childbearing age moving in: her pregnancy
notification (item 80) is asked for the same way and shown with her pregnancies. Real apps
on their own databases: the intermediate server (both tenants) and boshi_core; atena's
move-in event is applied as its consumer applies it."""

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

import boshi_core
import intermediate_server
from atena import events as atena_events
from boshi_core.checkups.models import CheckupNotice
from boshi_core.checkups.service import extract
from boshi_core.checkups.windows import Period
from boshi_core.config import Settings as BoshiSettings
from boshi_core.main import create_app as create_boshi
from boshi_core.moving_in.ims import ImsClient
from boshi_core.moving_in.models import PreviousCityRecord, PreviousCityRequest
from boshi_core.moving_in.service import PREVIOUS_CITY, fetch_previous_city_records
from boshi_core.people.consumer import apply_person_event
from intermediate_server.config import Settings as ImsSettings
from intermediate_server.main import create_app as create_ims
from mch_common.audit import read_whole_log
from mch_common.dates import add_months_legal, today_tokyo
from mch_common.db import unit_of_work
from mch_common.events import CloudEvent
from mch_common.jobs import PeriodicJob, cancelled
from mch_common.mynumber import generate_my_number
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet
from mch_testing.plugin import DatabaseFactory
from mch_testing.waiting import eventually

KITAKYUSHU, FUKUOKA = "401005", "401307"
KOKURA_KITA = "401064"
PATHS = {
    "ims": intermediate_server.__file__,
    "boshi": boshi_core.__file__,
}


@dataclass
class TwoCities:
    ims: FastAPI
    boshi: FastAPI
    ims_http: httpx.AsyncClient
    keys: TestKeySet

    def bearer(self, *scopes: str, tenant: str, sub: str) -> dict[str, str]:
        token = self.keys.mint(sub=f"svc:{sub}", scopes=scopes, tenant=tenant, terminal=None)
        return {"Authorization": f"Bearer {token}"}


def _settings(url: str, nats_url: str, namespace: str, keys: TestKeySet) -> dict[str, Any]:
    return {
        "environment": "test",
        "database_url": url,
        "nats_url": nats_url,
        "event_namespace": namespace,
        "jwks_url": keys.jwks_url,
        "jwt_issuer": TEST_ISSUER,
        "jwt_audience": TEST_AUDIENCE,
    }


@pytest.fixture
async def cities(
    database_factory: DatabaseFactory,
    test_database_name: str,
    nats_url: str,
    event_namespace: str,
    jwt_keys: TestKeySet,
) -> AsyncIterator[TwoCities]:
    from pathlib import Path

    suffix = secrets.token_hex(3)  # databases of this test's own
    ims_url = await database_factory.create(
        f"{test_database_name}_mv_ims_{suffix}", Path(PATHS["ims"]).parent / "migrations"
    )
    boshi_url = await database_factory.create(
        f"{test_database_name}_mv_boshi_{suffix}", Path(PATHS["boshi"]).parent / "migrations"
    )
    ims = create_ims(
        ImsSettings(**_settings(ims_url, nats_url, f"{event_namespace}mv{suffix}", jwt_keys)),
        with_consumers=False,
    )
    boshi = create_boshi(
        BoshiSettings(**_settings(boshi_url, nats_url, f"{event_namespace}mv{suffix}", jwt_keys)),
        with_consumers=False,
    )
    async with ims.router.lifespan_context(ims):
        async with ims.state.sessions() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO tenant (code, name) VALUES ('401005', '北九州市'), "
                    "('401307', '福岡市')"
                )
            )
        transport = httpx.ASGITransport(app=ims)
        async with httpx.AsyncClient(transport=transport, base_url="http://ims") as ims_http:
            cities = TwoCities(ims=ims, boshi=boshi, ims_http=ims_http, keys=jwt_keys)
            # Kitakyushu's boshi_core calls the gateway with its own client's token.
            boshi_to_ims = httpx.AsyncClient(
                transport=transport,
                base_url="http://ims",
                headers=cities.bearer("ims:inquire", tenant=KITAKYUSHU, sub="boshi_core"),
            )
            boshi.state.ims = ImsClient(boshi_to_ims)
            async with boshi.router.lifespan_context(boshi):
                yield cities
            await boshi_to_ims.aclose()


async def child_known_to_both_cities(
    cities: TwoCities, *, kitakyushu_no: str, fukuoka_no: str, checkup_on: date | None
) -> None:
    """Fukuoka's atena and boshi_core registered the child (its 符号; the 4-month checkup in
    the replica); Kitakyushu's atena obtained the child's 符号 on the move-in."""
    my_number = generate_my_number()
    for tenant, number in ((FUKUOKA, fukuoka_no), (KITAKYUSHU, kitakyushu_no)):
        answer = await cities.ims_http.post(
            "/codes",
            json={"people": [{"person_no": number, "my_number": my_number}]},
            headers=cities.bearer("ims:code:write", tenant=tenant, sub="atena"),
        )
        assert answer.status_code == 200, answer.text
    if checkup_on is not None:
        answer = await cities.ims_http.put(
            f"/replica/persons/{fukuoka_no}/checkups",
            json={
                "record_key": "fukuoka-4m",
                "as_of": datetime(2026, 11, 1, tzinfo=UTC).isoformat(),
                "data": {
                    "checkup_kind": "infant_4m",
                    "taken": True,
                    "taken_on": checkup_on.isoformat(),
                    "weight_g": 6800,
                    "judgement": "no_abnormality",
                },
            },
            headers=cities.bearer("ims:replica:write", tenant=FUKUOKA, sub="boshi_core"),
        )
        assert answer.status_code == 200, answer.text


def moved_in(person_no: str, *, birth_date: date, on: date, sex: str = "female") -> CloudEvent:
    snapshot = {
        "person_no": person_no,
        "version": 1,
        "residence_status": "resident",
        "family_name": "転入",
        "given_name": "花子",
        "family_name_kana": "テンニュウ",
        "given_name_kana": "ハナコ",
        "sex": sex,
        "birth_date": birth_date.isoformat(),
        "death_date": None,
        "address": {"ward_code": KOKURA_KITA, "municipality_code": KITAKYUSHU},
    }
    return CloudEvent(
        source=f"urn:mch:{KITAKYUSHU}:atena",
        type=atena_events.PERSON_EVENTS["moved_in"].type,
        subject=person_no,
        tenant=KITAKYUSHU,
        data={
            "person_no": person_no,
            "effective_date": on.isoformat(),
            "previous_municipality_code": FUKUOKA,
            "before": {},
            "after": {},
            "person": snapshot,
        },
    )


async def test_a_child_moving_in_from_fukuoka_is_not_invited_to_a_checkup_done_there(
    cities: TwoCities,
) -> None:
    today = today_tokyo()
    # Five months old: inside the 4-month checkup's window (3 months to the day before 7).
    birth = today - timedelta(days=152)
    assert add_months_legal(birth, 3) <= today < add_months_legal(birth, 7)
    checked, unchecked = "4010000123", "4010000131"
    await child_known_to_both_cities(
        cities,
        kitakyushu_no=checked,
        fukuoka_no="4013000123",
        checkup_on=birth + timedelta(days=100),
    )
    await child_known_to_both_cities(
        cities, kitakyushu_no=unchecked, fukuoka_no="4013000131", checkup_on=None
    )
    boshi_sessions = cities.boshi.state.sessions
    for person_no in (checked, unchecked):
        async with unit_of_work(boshi_sessions) as session:
            await apply_person_event(
                session, moved_in(person_no, birth_date=birth, on=today - timedelta(days=3))
            )

    run = await fetch_previous_city_records(boshi_sessions, cities.boshi.state.ims)

    assert (run.done, run.held, run.refused, run.unavailable) == (2, 0, 0, 0)
    async with boshi_sessions() as session:
        (record,) = (await session.scalars(select(PreviousCityRecord))).all()
    assert record.person_no == checked
    assert (record.source_municipality, record.item_no, record.programme_code) == (
        FUKUOKA,
        "95",
        "4m",
    )
    assert record.taken_on == birth + timedelta(days=100)
    assert record.as_of == datetime(2026, 11, 1, tzinfo=UTC)
    assert record.data["weight_g"] == 6800
    # A second run has nothing left to ask.
    again = await fetch_previous_city_records(boshi_sessions, cities.boshi.state.ims)
    assert (again.done, again.held) == (0, 0)

    async with unit_of_work(boshi_sessions) as session:
        await extract(session, programme="4m", period=Period.parse(f"{today:%Y-%m}"))
    async with boshi_sessions() as session:
        invited = (
            await session.scalars(
                select(CheckupNotice.person_no).where(CheckupNotice.programme_code == "4m")
            )
        ).all()
    assert sorted(invited) == [unchecked]

    # The child's disclosure (開示請求) lists what came from Fukuoka, with its source.
    staff = cities.keys.mint(scopes=("boshi:disclosure:export",), roles=("mch_staff",))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=cities.boshi), base_url="http://boshi"
    ) as boshi_http:
        disclosure = await boshi_http.get(
            f"/people/{checked}/disclosure", headers={"Authorization": f"Bearer {staff}"}
        )
    assert disclosure.status_code == 200, disclosure.text
    (disclosed,) = disclosure.json()["previous_city_records"]
    assert (disclosed["source_municipality"], disclosed["record_key"]) == (FUKUOKA, "fukuoka-4m")

    # Both gateways recorded the exchange: Kitakyushu asked, Fukuoka provided.
    async with cities.ims.state.sessions() as session:
        await read_whole_log(session)  # both tenants' records
        records = (
            await session.execute(
                text(
                    "SELECT action, detail->>'tenant', outcome FROM audit_log "
                    "WHERE action LIKE 'provision.%' ORDER BY seq"
                )
            )
        ).all()
    assert sorted(map(tuple, records)) == sorted(
        [
            ("provision.provide", FUKUOKA, "success"),
            ("provision.inquiry", KITAKYUSHU, "success"),
        ]
        * 2
    )


async def test_the_move_in_is_asked_for_as_soon_as_the_consumer_commits_it(
    cities: TwoCities,
) -> None:
    """boshi_core's fetcher runs once an hour here: the consumer's transaction that queued the
    move-in wakes it (mch_common.jobs), so the checkups arrive without waiting for the period."""
    today = today_tokyo()
    birth = today - timedelta(days=152)
    await child_known_to_both_cities(
        cities,
        kitakyushu_no="4010000123",
        fukuoka_no="4013000123",
        checkup_on=birth + timedelta(days=100),
    )
    boshi_sessions = cities.boshi.state.sessions
    ims = cities.boshi.state.ims
    fetcher = PeriodicJob(
        PREVIOUS_CITY, lambda: fetch_previous_city_records(boshi_sessions, ims), every=3600
    )
    task = asyncio.create_task(fetcher.run_forever())
    try:

        async def runs() -> int:
            return fetcher.runs

        await eventually(runs, bool, within=5, what="the fetcher's first round (nothing queued)")
        async with unit_of_work(boshi_sessions) as session:
            await apply_person_event(
                session, moved_in("4010000123", birth_date=birth, on=today - timedelta(days=3))
            )

        async def kept() -> list[PreviousCityRecord]:
            async with boshi_sessions() as session:
                return list((await session.scalars(select(PreviousCityRecord))).all())

        records = await eventually(kept, bool, within=10, what="the previous city's checkups")
    finally:
        await cancelled(task)
    assert [(r.person_no, r.source_municipality) for r in records] == [("4010000123", FUKUOKA)]


async def test_a_record_fukuoka_holds_for_its_staff_arrives_once_they_approve(
    cities: TwoCities,
) -> None:
    today = today_tokyo()
    birth = today - timedelta(days=152)
    child = "4010000214"
    await child_known_to_both_cities(
        cities, kitakyushu_no=child, fukuoka_no="4013000214", checkup_on=None
    )
    held_entry = await cities.ims_http.put(
        "/replica/persons/4013000214/checkups",
        json={
            "record_key": "fukuoka-4m-held",
            "as_of": datetime(2026, 11, 2, tzinfo=UTC).isoformat(),
            "no_auto_response": True,
            "data": {
                "checkup_kind": "infant_4m",
                "taken": True,
                "taken_on": (birth + timedelta(days=100)).isoformat(),
            },
        },
        headers=cities.bearer("ims:replica:write", tenant=FUKUOKA, sub="boshi_core"),
    )
    assert held_entry.status_code == 200, held_entry.text
    boshi_sessions = cities.boshi.state.sessions
    async with unit_of_work(boshi_sessions) as session:
        await apply_person_event(
            session, moved_in(child, birth_date=birth, on=today - timedelta(days=1))
        )

    waiting = await fetch_previous_city_records(boshi_sessions, cities.boshi.state.ims)
    assert (waiting.done, waiting.held) == (0, 1)
    fukuoka_staff = cities.keys.mint(scopes=("ims:approve",), tenant=FUKUOKA, roles=("mch_staff",))
    held = await cities.ims_http.get(
        "/provisions/held", headers={"Authorization": f"Bearer {fukuoka_staff}"}
    )
    (item,) = held.json()["items"]
    still_waiting = await fetch_previous_city_records(boshi_sessions, cities.boshi.state.ims)
    assert (still_waiting.done, still_waiting.held) == (0, 1)
    approved = await cities.ims_http.post(
        f"/provisions/held/{item['id']}/decision",
        json={"decision": "approve"},
        headers={"Authorization": f"Bearer {fukuoka_staff}"},
    )
    assert approved.status_code == 200, approved.text

    arrived = await fetch_previous_city_records(boshi_sessions, cities.boshi.state.ims)

    assert (arrived.done, arrived.held) == (1, 0)
    async with boshi_sessions() as session:
        keys = (
            await session.scalars(
                select(PreviousCityRecord.record_key).where(PreviousCityRecord.person_no == child)
            )
        ).all()
    assert keys == ["fukuoka-4m-held"]


async def test_a_pregnant_woman_moving_in_from_fukuoka_arrives_with_her_notification(
    cities: TwoCities,
) -> None:
    today = today_tokyo()
    pregnant, not_notified, older, man = "4010000310", "4010000328", "4010000336", "4010000344"
    for kitakyushu_no, fukuoka_no in ((pregnant, "4013000310"), (not_notified, "4013000328")):
        await child_known_to_both_cities(
            cities, kitakyushu_no=kitakyushu_no, fukuoka_no=fukuoka_no, checkup_on=None
        )
    notified = await cities.ims_http.put(
        "/replica/persons/4013000310/pregnancy-notifications",
        json={
            "record_key": "fukuoka-preg-1",
            "as_of": datetime(2026, 10, 5, tzinfo=UTC).isoformat(),
            "data": {
                "notified_on": "2026-10-01",
                "expected_delivery_date": "2027-05-10",
                "weeks_at_notification": 9,
                "expected_children": 1,
                "handbook_issued_on": "2026-10-01",
            },
        },
        headers=cities.bearer("ims:replica:write", tenant=FUKUOKA, sub="boshi_core"),
    )
    assert notified.status_code == 200, notified.text
    boshi_sessions = cities.boshi.state.sessions
    moves = (
        (pregnant, date(today.year - 31, 4, 2), "female"),
        (not_notified, date(today.year - 20, 4, 2), "female"),
        (older, date(today.year - 55, 4, 2), "female"),  # past childbearing age: not asked
        (man, date(today.year - 31, 4, 2), "male"),  # not asked
    )
    for person_no, birth, sex in moves:
        async with unit_of_work(boshi_sessions) as session:
            await apply_person_event(
                session,
                moved_in(person_no, birth_date=birth, on=today - timedelta(days=2), sex=sex),
            )

    run = await fetch_previous_city_records(boshi_sessions, cities.boshi.state.ims)

    # Asked about the two women of childbearing age; the one Fukuoka has no notification of
    # is answered "not held" (nothing kept), the other's notification arrives.
    assert (run.done, run.held, run.refused, run.unavailable) == (2, 0, 0, 0)
    async with boshi_sessions() as session:
        asked = (
            await session.execute(
                select(PreviousCityRequest.person_no, PreviousCityRequest.item_no).order_by(
                    PreviousCityRequest.person_no
                )
            )
        ).all()
        (record,) = (await session.scalars(select(PreviousCityRecord))).all()
    assert [tuple(a) for a in asked] == [(pregnant, "80"), (not_notified, "80")]
    assert (record.person_no, record.source_municipality, record.item_no) == (
        pregnant,
        FUKUOKA,
        "80",
    )
    assert (record.taken, record.programme_code) == (None, None)
    assert record.as_of == datetime(2026, 10, 5, tzinfo=UTC)

    # Staff see it with her pregnancies, marked with where it came from and when.
    staff = cities.keys.mint(scopes=("boshi:pregnancy:read",), roles=("mch_staff",))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=cities.boshi), base_url="http://boshi"
    ) as boshi_http:
        profile = await boshi_http.get(
            f"/people/{pregnant}", headers={"Authorization": f"Bearer {staff}"}
        )
    assert profile.status_code == 200, profile.text
    (shown,) = profile.json()["previous_city_notifications"]
    assert (shown["source_municipality"], shown["expected_delivery_date"]) == (
        FUKUOKA,
        "2027-05-10",
    )
    assert (shown["notified_on"], shown["weeks_at_notification"]) == ("2026-10-01", 9)
    assert shown["as_of"].startswith("2026-10-05")

    # Both gateways recorded both inquiries under item 80's clause, the miss included.
    async with cities.ims.state.sessions() as session:
        await read_whole_log(session)
        records = (
            await session.execute(
                text(
                    "SELECT action, detail->>'tenant', detail->>'clause', "
                    "detail->'provided', detail->'not_held' FROM audit_log "
                    "WHERE action LIKE 'provision.%' ORDER BY seq"
                )
            )
        ).all()
    clause = "主務省令第2条の表80の項"
    assert sorted(map(tuple, records)) == sorted(
        [
            ("provision.inquiry", KITAKYUSHU, clause, ["80"], []),
            ("provision.provide", FUKUOKA, clause, ["80"], []),
            ("provision.inquiry", KITAKYUSHU, clause, [], ["80"]),
            ("provision.provide", FUKUOKA, clause, [], ["80"]),
        ]
    )
