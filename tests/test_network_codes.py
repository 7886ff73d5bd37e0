"""Code management across atena and the intermediate server: every person atena holds a My
Number for obtains a 符号 (the job after registrations, the same job in batch); the My Number
crosses once, in the request body, and the gateway keeps none."""

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

import atena
import intermediate_server
from atena.config import Settings as AtenaSettings
from atena.main import create_app as create_atena
from atena.network.service import obtain_network_codes
from atena.testing import person_body
from intermediate_server.config import Settings as ImsSettings
from intermediate_server.main import create_app as create_ims
from intermediate_server.tenancy import enter_tenant
from mch_common.audit import read_whole_log
from mch_common.mynumber import generate_my_number
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet
from mch_testing.plugin import DatabaseFactory
from mch_testing.waiting import eventually

KITAKYUSHU = "401005"


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
async def apps(
    database_factory: DatabaseFactory,
    test_database_name: str,
    nats_url: str,
    event_namespace: str,
    jwt_keys: TestKeySet,
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    name = f"{test_database_name}_nc_{secrets.token_hex(3)}"  # each test its own databases
    ims_url = await database_factory.create(
        f"{name}_ims", Path(intermediate_server.__file__).parent / "migrations"
    )
    atena_url = await database_factory.create(
        f"{name}_atena", Path(atena.__file__).parent / "migrations"
    )
    namespace = f"{event_namespace}nc"
    ims = create_ims(ImsSettings(**_settings(ims_url, nats_url, namespace, jwt_keys)))
    registry = create_atena(
        AtenaSettings(**_settings(atena_url, nats_url, namespace, jwt_keys)), obtain_codes=False
    )
    async with ims.router.lifespan_context(ims), registry.router.lifespan_context(registry):
        yield ims, registry


async def test_every_person_with_a_my_number_obtains_a_code_and_the_gateway_keeps_no_my_number(
    apps: tuple[FastAPI, FastAPI], jwt_keys: TestKeySet
) -> None:
    ims, registry = apps
    clerk = jwt_keys.mint(scopes=("atena:person:write",), roles=("registry_clerk",))
    my_numbers = [generate_my_number() for _ in range(3)]
    people = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=registry), base_url="http://atena"
    ) as client:
        for body in (
            *(person_body(my_number=n) for n in my_numbers),
            person_body(),  # no My Number: no 符号
        ):
            answer = await client.post(
                "/persons", json=body, headers={"Authorization": f"Bearer {clerk}"}
            )
            assert answer.status_code == 201, answer.text
            people.append(answer.json()["person_no"])
    atena_token = jwt_keys.mint(sub="svc:atena", scopes=("ims:code:write",), terminal=None)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ims),
        base_url="http://ims",
        headers={"Authorization": f"Bearer {atena_token}"},
    ) as to_ims:
        sent: list[int] = []
        first = await obtain_network_codes(
            registry.state.sessions,
            registry.state.settings.vault,
            to_ims,
            batch_size=2,
            progress=sent.append,
        )
        second = await obtain_network_codes(
            registry.state.sessions, registry.state.settings.vault, to_ims
        )

    assert (first.obtained, first.failed) == (3, 0)
    assert sent == [2, 3]  # progress, batch by batch
    assert (second.obtained, second.failed) == (0, 0)
    async with ims.state.sessions() as session, session.begin():
        await enter_tenant(session, KITAKYUSHU)
        await read_whole_log(session)  # every tenant's audit records, not only Kitakyushu's
        held = (await session.scalars(text("SELECT person_no FROM person_code"))).all()
        dump = await session.scalar(
            text(
                "SELECT string_agg(t::text, ' ') FROM ("
                " SELECT row_to_json(c)::text AS t FROM person_code c"
                " UNION ALL SELECT row_to_json(a)::text FROM audit_log a"
                " UNION ALL SELECT row_to_json(h)::text FROM hub.person h"
                " UNION ALL SELECT row_to_json(i)::text FROM hub.issued_code i) AS rows"
            )
        )
    assert sorted(held) == sorted(people[:3])
    assert dump is not None
    for number in my_numbers:
        assert number not in dump
    async with registry.state.sessions() as session:
        marked = (await session.execute(text("SELECT person_no, status FROM network_code"))).all()
    assert sorted(map(tuple, marked)) == sorted((p, "obtained") for p in people[:3])


async def test_a_registration_obtains_its_code_as_soon_as_it_commits(
    apps: tuple[FastAPI, FastAPI], jwt_keys: TestKeySet
) -> None:
    """atena's job runs at start and then once an hour here: the registration's commit wakes
    it (mch_common.jobs), so the 符号 does not wait for the period."""
    ims, registry = apps
    settings = registry.state.settings.model_copy(
        update={"intermediate_server_url": "http://ims", "network_code_seconds": 3600.0}
    )
    working = create_atena(settings)
    atena_token = jwt_keys.mint(sub="svc:atena", scopes=("ims:code:write",), terminal=None)
    clerk = jwt_keys.mint(scopes=("atena:person:write",), roles=("registry_clerk",))
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=ims),
            base_url="http://ims",
            headers={"Authorization": f"Bearer {atena_token}"},
        ) as to_ims,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=working),
            base_url="http://atena",
            headers={"Authorization": f"Bearer {clerk}"},
        ) as client,
    ):
        working.state.ims = to_ims  # the job's client: the in-process intermediate server
        async with working.router.lifespan_context(working):
            await asyncio.sleep(0.5)  # the job's first run, at start
            answer = await client.post("/persons", json=person_body(my_number=generate_my_number()))
            assert answer.status_code == 201, answer.text
            person_no = answer.json()["person_no"]

            async def status() -> str | None:
                async with working.state.sessions() as session:
                    found = await session.scalar(
                        text("SELECT status FROM network_code WHERE person_no = :p"),
                        {"p": person_no},
                    )
                return None if found is None else str(found)

            await eventually(status, lambda s: s == "obtained", within=10, what="the person's 符号")
    async with ims.state.sessions() as session, session.begin():
        await enter_tenant(session, KITAKYUSHU)
        held = await session.scalar(
            text("SELECT count(*) FROM person_code WHERE person_no = :p"), {"p": person_no}
        )
    assert held == 1
