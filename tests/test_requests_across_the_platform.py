"""Issue 19 across the services: a disclosure request for a child, made by her mother, is
collected from every service that holds personal data (atena, boshi_core, the immunization
bridge, e_application and the intermediate server) through their own disclosure endpoints with
boshi_core's service token; its section "who looked at your data" lists every access to the
child in every service during the test, refusals included, and nothing about anyone else; a
partial decision withholds exactly the parts it names. boshi_core's disclosure sources are
pointed at the running services (e_application and the intermediate server started here, on
the stack's identity, NATS and PostgreSQL)."""

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

import e_application
import identity.seed
import intermediate_server
from atena.testing import person_body
from boshi_core.config import DisclosureSource
from boshi_core.platform_disclosure.sources import DisclosureSources
from e_application.config import Settings as EappSettings
from e_application.main import create_app as create_eapp
from intermediate_server.codes.service import person_key
from intermediate_server.config import Settings as ImsSettings
from intermediate_server.main import create_app as create_ims
from mch_common.audit import AuditRecord, about_person, read_whole_log
from mch_common.dates import today_tokyo
from mch_common.mynumber import generate_my_number
from mch_testing.app import serve_over_http
from mch_testing.plugin import DatabaseFactory
from mch_testing.waiting import eventually

from .conftest import ISSUER, KOKURA_KITA, Stack, bearer, window_flow

READ_MODEL_S = 10.0
KITAKYUSHU = "401005"  # the demo staff's municipality (tenant)


@dataclass(frozen=True)
class Platform:
    """The services besides the stack's: clients and apps by disclosure source name."""

    bridge: httpx.AsyncClient
    eapp: httpx.AsyncClient
    ims: httpx.AsyncClient
    eapp_app: FastAPI
    ims_app: FastAPI


def _source(base: str, path: str, scope: str) -> DisclosureSource:
    return DisclosureSource(url=f"{base.rstrip('/')}{path}", scope=scope)


@pytest.fixture(scope="module")
async def platform(
    stack: Stack,
    database_factory: DatabaseFactory,
    test_database_name: str,
    nats_url: str,
    event_namespace: str,
) -> AsyncIterator[Platform]:
    """e_application and the intermediate server running beside the stack (this module's
    tests share them), and boshi_core's disclosure sources set to every live service."""
    identity_url = str(stack.identity.base_url).rstrip("/")
    common: dict[str, Any] = {
        "environment": "test",
        "nats_url": nats_url,
        "event_namespace": event_namespace,
        "jwt_issuer": ISSUER,
        "jwks_url": f"{identity_url}/.well-known/jwks.json",
    }
    eapp_db = await database_factory.create(
        f"{test_database_name}_eapp_dsc", Path(e_application.__file__).parent / "migrations"
    )
    ims_db = await database_factory.create(
        f"{test_database_name}_ims_dsc", Path(intermediate_server.__file__).parent / "migrations"
    )
    eapp_app = create_eapp(
        EappSettings(**common, database_url=eapp_db, atena_url=str(stack.atena.base_url))
    )
    ims_app = create_ims(ImsSettings(**common, database_url=ims_db))
    boshi_state = stack.boshi_app.state
    configured = boshi_state.disclosure_sources
    async with AsyncExitStack() as running:
        eapp_url = await running.enter_async_context(serve_over_http(eapp_app))
        ims_url = await running.enter_async_context(serve_over_http(ims_app))
        eapp = await running.enter_async_context(httpx.AsyncClient(base_url=eapp_url, timeout=10))
        ims = await running.enter_async_context(httpx.AsyncClient(base_url=ims_url, timeout=10))
        sources = {
            "atena": _source(
                str(stack.atena.base_url),
                "/persons/{person_no}/disclosure",
                "atena:disclosure:export",
            ),
            "immunization_bridge": _source(
                str(stack.bridge.base_url),
                "/children/{person_no}/disclosure",
                "immunization:disclosure:export",
            ),
            "e_application": _source(
                eapp_url, "/persons/{person_no}/disclosure", "eapp:disclosure:export"
            ),
            "intermediate_server": _source(
                ims_url, "/persons/{person_no}/disclosure", "ims:disclosure:export"
            ),
        }
        settings = boshi_state.settings.model_copy(update={"disclosure_sources": sources})
        boshi_state.disclosure_sources = DisclosureSources(settings)
        try:
            yield Platform(
                bridge=stack.bridge, eapp=eapp, ims=ims, eapp_app=eapp_app, ims_app=ims_app
            )
        finally:
            await boshi_state.disclosure_sources.close()
            boshi_state.disclosure_sources = configured


async def _person_records(app_state: Any, person: str) -> list[tuple[int, str, str]]:
    async with app_state.sessions() as session:
        await read_whole_log(session)  # the intermediate server walls its log by tenant
        rows = await session.execute(
            select(AuditRecord).where(about_person(person)).order_by(AuditRecord.seq)
        )
        return [(r.seq, r.action, r.outcome) for r in rows.scalars()]


async def test_disclosure_lists_every_access_in_every_service_and_withholds_named_parts(
    stack: Stack, platform: Platform
) -> None:
    bridge = platform.bridge
    clerk = bearer(await stack.token("registry01"))
    child_number, other_number = generate_my_number(), generate_my_number()
    born = today_tokyo().replace(day=1).isoformat()
    registered = []
    for given, number in (("ひかり", child_number), ("そら", other_number)):
        made = await stack.atena.post(
            "/persons",
            json=person_body(
                family_name="北九",
                given_name=given,
                family_name_kana="キタキュウ",
                given_name_kana="ヒカリ" if given == "ひかり" else "ソラ",
                birth_date=born,
                effective_date=born,
                my_number=number,
            ),
            headers=clerk,
        )
        assert made.status_code == 201, made.text
        registered.append(made.json()["person_no"])
    child, other = registered

    # The city's MCH staff reads the child (and another child) in every service.
    staff = bearer(await stack.token("kosodate01"))
    for person in (child, other):
        await eventually(
            partial(stack.boshi.get, f"/people/{person}", headers=staff),
            lambda r: r.status_code == 200,
            within=READ_MODEL_S,
            what="the person in boshi_core",
        )
        await eventually(
            partial(bridge.get, f"/children/{person}/status", headers=staff),
            lambda r: r.status_code == 200,
            within=READ_MODEL_S,
            what="the child in the bridge",
        )
        assert (await stack.atena.get(f"/persons/{person}", headers=staff)).status_code == 200
    # Staff of another ward tries the child in every service: refused (answered as a miss).
    stranger = bearer(await stack.token("yahatanishi01"))
    assert (await stack.atena.get(f"/persons/{child}", headers=stranger)).status_code == 404
    assert (await stack.boshi.get(f"/people/{child}", headers=stranger)).status_code == 404
    assert (await bridge.get(f"/children/{child}/status", headers=stranger)).status_code == 404
    # e_application: the MCH division exports what it holds about the child (a staff action
    # it records); ward staff may not (no scope: refused). The intermediate server: the
    # division reads the child's provision records; ward staff may not.
    for person in (child, other):
        looked = await platform.eapp.get(f"/persons/{person}/disclosure", headers=staff)
        assert looked.status_code == 404  # nothing held yet: the miss is recorded
        read = await platform.ims.get(f"/records/persons/{person}", headers=staff)
        assert read.status_code == 200, read.text
    exported = await platform.eapp.get(f"/persons/{child}/disclosure", headers=staff)
    assert exported.status_code == 200, exported.text  # it holds the access records now
    assert (
        await platform.eapp.get(f"/persons/{child}/disclosure", headers=stranger)
    ).status_code == 403
    assert (
        await platform.ims.get(f"/records/persons/{child}", headers=stranger)
    ).status_code == 403

    # The mother asks, as the child's legal representative, at the window.
    request = await stack.boshi.post(
        "/requests",
        json={
            "person_no": child,
            "kind": "disclosure",
            "requester": {
                "kind": "legal_representative",
                "name": "北九 花子",
                "relationship": "母",
                "id_document": "my_number_card",
                "representation_document": "戸籍謄本",
            },
            "asked": "娘について市が保有する情報と、閲覧の記録",
            "received_on": today_tokyo().isoformat(),
        },
        headers=staff,
    )
    assert request.status_code == 201, request.text
    request_id, deadline = request.json()["id"], request.json()["deadline"]
    decided = await stack.boshi.post(
        f"/requests/{request_id}/decision",
        json={"outcome": "full", "decided_on": today_tokyo().isoformat()},
        headers=staff,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["decided_on"] <= deadline  # answered within its deadline

    services = {
        "atena": stack.atena_app.state,
        "boshi_core": stack.boshi_app.state,
        "immunization_bridge": stack.bridge_app.state,
        "e_application": platform.eapp_app.state,
        "intermediate_server": platform.ims_app.state,
    }
    # The intermediate server is shared by municipalities: it names her by city too.
    named = dict.fromkeys(services, child) | {"intermediate_server": person_key(KITAKYUSHU, child)}
    held_before = {name: await _person_records(s, named[name]) for name, s in services.items()}
    done = await stack.boshi.post(f"/requests/{request_id}/fulfilment", headers=staff)
    assert done.status_code == 200, done.text
    held_after = {name: await _person_records(s, named[name]) for name, s in services.items()}
    export = (await stack.boshi.get(f"/requests/{request_id}/export", headers=staff)).json()

    # Every service answered, through its own endpoint, with boshi_core's service token.
    assert set(export["services"]) == set(services)
    assert export["services"]["atena"]["person"]["person_no"] == child
    assert export["services"]["atena"]["person"]["my_number"] is None
    assert export["services"]["boshi_core"]["person"]["person_no"] == child
    assert export["services"]["immunization_bridge"]["child"]["birth_date"] == born
    assert export["services"]["e_application"]["applications"] == []
    assert export["services"]["intermediate_server"]["code"] is None  # atena asked for none here
    assert export["services"]["intermediate_server"]["provision_records"] == []
    # The access section: exactly the records about the child in each service's log, those
    # the collection itself made included (boshi_core's read of the bridge's statuses), but
    # not the exports' own records, written as each answered (they show in the next one).
    expected = {}
    for name, after in held_after.items():
        assert after[: len(held_before[name])] == held_before[name]
        since = after[len(held_before[name]) :]
        expected[name] = held_before[name] + [
            r for r in since if r[1] not in {"disclosure.export", "request.fulfil"}
        ]
    listed: dict[str, list[tuple[int, str, str]]] = {name: [] for name in services}
    for entry in export["access_log"]:
        listed[entry["service"]].append((entry["seq"], entry["action"], entry["outcome"]))
    assert listed == expected
    for name in services:
        outcomes = {outcome for _, _, outcome in listed[name]}
        assert {"success", "refused"} <= outcomes, (name, listed[name])
    # Department, role and terminal shown; staff ids withheld; nothing about anyone else.
    refused = [e for e in export["access_log"] if e["outcome"] == "refused"]
    assert {e["ward"] for e in refused} == {"401099"}
    assert all(e["terminal"] == "WARD-401099-01" for e in refused)
    assert all(e["reason"] for e in refused)
    staff_reads = [e for e in export["access_log"] if e["ward"] is None and e["roles"]]
    assert {e["department"] for e in staff_reads} == {"子育て支援課"}
    text = json.dumps(export, ensure_ascii=False)
    assert other not in text
    assert child_number not in text
    assert other_number not in text
    assert {e["actor"] for e in export["access_log"]} <= {"(非開示 withheld)", "svc:boshi_core"}
    assert KOKURA_KITA in text  # the child's own address

    pdf = await stack.boshi.get(f"/requests/{request_id}/export.pdf", headers=staff)
    assert pdf.status_code == 200, pdf.text
    assert pdf.content.startswith(b"%PDF")
    assert b"FontFile2" in pdf.content  # IPAex Gothic embedded
    if out := os.environ.get("REQUESTS_DISCLOSURE_PDF_OUT"):
        await asyncio.to_thread(Path(out).write_bytes, pdf.content)

    # A second request, decided in part: atena's records and the access section withheld.
    again = await stack.boshi.post(
        "/requests",
        json={
            "person_no": child,
            "kind": "disclosure",
            "requester": {"kind": "self", "id_document": "health_insurance"},
            "asked": "宛名以外の情報",
            "received_on": today_tokyo().isoformat(),
        },
        headers=staff,
    )
    assert again.status_code == 201, again.text
    partial_id = again.json()["id"]
    reason = "閲覧記録は調査中の案件に関わるため (第78条第1項第7号)"
    decided = await stack.boshi.post(
        f"/requests/{partial_id}/decision",
        json={
            "outcome": "partial",
            "decided_on": today_tokyo().isoformat(),
            "withheld": ["atena", "access_log"],
            "reason": reason,
        },
        headers=staff,
    )
    assert decided.status_code == 200, decided.text
    assert (
        await stack.boshi.post(f"/requests/{partial_id}/fulfilment", headers=staff)
    ).status_code == 200
    withheld = (await stack.boshi.get(f"/requests/{partial_id}/export", headers=staff)).json()
    assert withheld["services"]["atena"] == {"withheld": True, "reason": reason}
    assert withheld["access_log"] == {"withheld": True, "reason": reason}
    assert withheld["services"]["boshi_core"]["person"]["person_no"] == child
    assert withheld["services"]["immunization_bridge"]["child"]["birth_date"] == born
    assert withheld["decision"]["withheld"] == ["access_log", "atena"]


async def _decided_and_fulfilled(
    stack: Stack, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    received = await stack.boshi.post("/requests", json=body, headers=headers)
    assert received.status_code == 201, received.text
    request_id = received.json()["id"]
    decided = await stack.boshi.post(
        f"/requests/{request_id}/decision",
        json={"outcome": "full", "decided_on": body["received_on"]},
        headers=headers,
    )
    assert decided.status_code == 200, decided.text
    done = await stack.boshi.post(f"/requests/{request_id}/fulfilment", headers=headers)
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result


async def test_a_correction_and_a_suspension_reach_the_intermediate_server(
    stack: Stack, platform: Platform
) -> None:
    """Through JetStream: the pregnancy boshi_core opened is item 80 in the intermediate
    server's replica; a decided correction of its due date corrects the replica, a decided
    suspension of provision is held there until it is lifted (and its items then answered as
    suspended: intermediate_server's tests/test_honoured_events.py)."""
    flow = await window_flow(stack, ward_staff="kosodate01", seed=401019)
    staff = bearer(flow.staff_token)
    collector = bearer(await _service_token(stack, "ims:disclosure:export"))

    async def held() -> dict[str, Any]:
        answer = await platform.ims.get(f"/persons/{flow.person_no}/disclosure", headers=collector)
        body: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        return body

    def item_80(export: dict[str, Any]) -> dict[str, Any] | None:
        entries = [e for e in export.get("replica", []) if e["item_no"] == "80"]
        return entries[0]["data"] if entries else None

    registered = await eventually(
        held, lambda e: item_80(e) is not None, within=READ_MODEL_S, what="item 80 in the replica"
    )
    due = item_80(registered)
    assert due is not None
    corrected_due = date.fromisoformat(due["expected_delivery_date"]) + timedelta(days=7)
    requester = {"kind": "self", "id_document": "my_number_card"}
    today = today_tokyo().isoformat()
    correction = await _decided_and_fulfilled(
        stack,
        staff,
        {
            "person_no": flow.person_no,
            "kind": "correction",
            "requester": requester,
            "asked": "出産予定日の訂正",
            "received_on": today,
            "corrections": [
                {
                    "record_type": "pregnancy",
                    "record_id": flow.pregnancy_id,
                    "field": "expected_delivery_date",
                    "value": corrected_due.isoformat(),
                }
            ],
        },
    )
    assert correction["summary"] == {"corrected": 1}
    await eventually(
        held,
        lambda e: (item_80(e) or {}).get("expected_delivery_date") == corrected_due.isoformat(),
        within=READ_MODEL_S,
        what="the corrected due date in the replica",
    )

    suspension = {
        "person_no": flow.person_no,
        "kind": "suspension",
        "requester": requester,
        "asked": "他市町村への情報提供を止めてほしい",
        "received_on": today,
        "uses": ["provision"],
    }
    stopped = await _decided_and_fulfilled(stack, staff, suspension)
    assert stopped["summary"] == {"uses": {"provision": "suspended"}}
    await eventually(
        held,
        lambda e: (e.get("provision_suspension") or {}).get("suspended") is True,
        within=READ_MODEL_S,
        what="the suspension at the intermediate server",
    )
    lifted = await _decided_and_fulfilled(
        stack, staff, {**suspension, "asked": "情報提供の再開", "lift": True}
    )
    assert lifted["summary"] == {"uses": {"provision": "lifted"}}
    export = await eventually(
        held,
        lambda e: (e.get("provision_suspension") or {}).get("suspended") is False,
        within=READ_MODEL_S,
        what="the lift at the intermediate server",
    )
    assert flow.my_number not in json.dumps(export, ensure_ascii=False)
    assert ("provision.suspend", "success") in {
        (e["action"], e["outcome"]) for e in export["access_log"]
    }


async def _service_token(stack: Stack, scope: str) -> str:
    token = await stack.identity.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=("boshi_core", identity.seed.DEMO_CLIENT_SECRET),
    )
    assert token.status_code == 200, token.text
    access: str = token.json()["access_token"]
    return access
