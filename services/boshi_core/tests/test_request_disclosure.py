"""A disclosure request fulfilled by boshi_core alone (no other source configured), or not at
all when a source does not answer: an export is complete or not made."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.config import DisclosureSource, Settings
from boshi_core.main import create_app
from boshi_core.people.atena import AtenaClient
from boshi_core.testsupport import ALL_SCOPES, Auth, FakeAtena, Register, notification
from mch_testing.app import running_app

MOTHER = "1000000010"
SCOPES = (*ALL_SCOPES, "boshi:requests:read", "boshi:requests:write")
# A port nothing listens on (discard): the source does not answer.
SILENT = DisclosureSource(url="http://127.0.0.1:9/{person_no}", scope="atena:disclosure:export")

App = Callable[[dict[str, DisclosureSource]], Any]


def _app(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], fake_atena: FakeAtena
) -> App:
    @asynccontextmanager
    async def app_with(sources: dict[str, DisclosureSource]) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(
            settings.model_copy(update={"disclosure_sources": sources}), with_consumers=False
        )
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(fake_atena.handler), base_url="http://atena.test"
        ) as atena_http:
            app.state.atena = AtenaClient(atena_http)
            async with running_app(app, sessions=sessions) as http:
                yield http

    return app_with


async def _decided(
    http: httpx.AsyncClient, headers: dict[str, str], decision: dict[str, Any]
) -> str:
    received = await http.post(
        "/requests",
        json={
            "person_no": MOTHER,
            "kind": "disclosure",
            "requester": {"kind": "self", "id_document": "passport"},
            "asked": "保有する情報すべて",
            "received_on": "2026-11-16",
        },
        headers=headers,
    )
    assert received.status_code == 201, received.text
    request_id: str = received.json()["id"]
    decided = await http.post(
        f"/requests/{request_id}/decision",
        json={"decided_on": "2026-11-30", **decision},
        headers=headers,
    )
    assert decided.status_code == 200, decided.text
    return request_id


async def test_partial_disclosure_withholds_exactly_the_named_parts(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    fake_atena: FakeAtena,
    auth: Auth,
    register: Register,
) -> None:
    headers = auth(SCOPES, sub="staff-disclose")
    await register(MOTHER)
    async with _app(settings, sessions, fake_atena)({}) as http:
        created = await http.post("/pregnancies", json=notification(), headers=headers)
        assert created.status_code == 201, created.text
        request_id = await _decided(
            http,
            headers,
            {"outcome": "partial", "withheld": ["access_log"], "reason": "第78条第1項第7号"},
        )
        done = await http.post(f"/requests/{request_id}/fulfilment", headers=headers)
        assert done.status_code == 200, done.text
        export = (await http.get(f"/requests/{request_id}/export", headers=headers)).json()
        assert set(export["services"]) == {"boshi_core"}
        assert [p["id"] for p in export["services"]["boshi_core"]["pregnancies"]] == [
            created.json()["id"]
        ]
        assert export["access_log"] == {"withheld": True, "reason": "第78条第1項第7号"}
        assert "staff-disclose" not in str(export)  # the exporter's id is not in the copy
        pdf = await http.get(f"/requests/{request_id}/export.pdf", headers=headers)
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")


async def test_a_source_that_does_not_answer_leaves_the_request_unfulfilled(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    fake_atena: FakeAtena,
    auth: Auth,
    register: Register,
) -> None:
    headers = auth(SCOPES)
    await register(MOTHER)
    async with _app(settings, sessions, fake_atena)({"atena": SILENT}) as http:
        request_id = await _decided(http, headers, {"outcome": "full"})
        failed = await http.post(f"/requests/{request_id}/fulfilment", headers=headers)
        assert failed.status_code == 503, failed.text
        assert failed.headers["content-type"].startswith("application/problem+json")
        after = (await http.get(f"/requests/{request_id}", headers=headers)).json()
        assert (after["status"], after["fulfilled_on"]) == ("decided", None)
        missing = await http.get(f"/requests/{request_id}/export", headers=headers)
        assert missing.status_code == 404
