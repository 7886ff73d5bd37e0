"""Idempotency-Key (mch_common.idempotency) through a service app as create_service_app builds
it, over real PostgreSQL with real commits: a lost answer retried gives the same answer and
one change; another body 422; the same key still running 409; keys per caller."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mch_common.auth.deps import require_scope
from mch_common.auth.jwt import JWKSVerifier
from mch_common.auth.principal import Principal
from mch_common.errors import PROBLEM_CONTENT_TYPE, InvalidInput
from mch_common.idempotency import answer_holds_secret, delete_expired
from mch_common.inputs import StrictModel
from mch_common.mynumber import generate_my_number
from mch_common.routes import ServiceRouter
from mch_common.settings import ServiceSettings
from mch_common.web import Session, create_service_app
from mch_common.work import UnitOfWork
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet

WRITE = "test:thing:write"


class ThingIn(StrictModel):
    name: str
    fail: bool = False


Writer = Annotated[Principal, require_scope(WRITE)]


def _router(gate: dict[str, asyncio.Event]) -> APIRouter:
    router = ServiceRouter()

    @router.post("/things", status_code=201)
    async def create_thing(body: ThingIn, session: Session, principal: Writer) -> dict[str, str]:
        if body.fail:
            raise InvalidInput("told to fail")
        if body.name in gate:  # the test holds this request in flight
            gate["entered"].set()
            await gate[body.name].wait()
        thing_id = str(uuid.uuid4())  # a new answer each time the route really runs
        UnitOfWork.of(session).record_access(
            principal, action="thing.create", target_type="thing", target_id=body.name
        )
        return {"id": thing_id, "name": body.name}

    @router.post("/secrets", status_code=201)
    async def issue_secret(body: ThingIn, session: Session, principal: Writer) -> dict[str, str]:
        answer_holds_secret()
        UnitOfWork.of(session).record_access(
            principal, action="secret.issue", target_type="thing", target_id=body.name
        )
        return {"secret": uuid.uuid4().hex}

    @router.post("/echo", status_code=201)
    async def echo(body: ThingIn, session: Session, principal: Writer) -> dict[str, str]:
        UnitOfWork.of(session).record_access(
            principal, action="thing.echo", target_type="thing", target_id=body.name
        )
        # As atena's answer shows a My Number to a caller who may see it.
        return {"my_number": generate_my_number()}

    return router


@pytest.fixture
def gate() -> dict[str, asyncio.Event]:
    return {"entered": asyncio.Event()}


@pytest.fixture
async def client(
    jwt_keys: TestKeySet,
    committed_sessions: async_sessionmaker[AsyncSession],
    gate: dict[str, asyncio.Event],
) -> AsyncIterator[httpx.AsyncClient]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.sessions = committed_sessions
        app.state.settings = ServiceSettings(environment="test")
        app.state.verifier = JWKSVerifier(
            jwt_keys.jwks_url, issuer=TEST_ISSUER, audience=TEST_AUDIENCE
        )
        yield
        await app.state.verifier.close()

    app = create_service_app(
        service="test", title="t", description="t", lifespan=lifespan, routers=[_router(gate)]
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc.test") as http:
            yield http


def _headers(
    jwt_keys: TestKeySet, key: str, *, sub: str = "staff-0001", **kw: Any
) -> dict[str, str]:
    scopes = kw.pop("scopes", [WRITE])
    token = jwt_keys.mint(sub=sub, scopes=scopes, **kw)
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": key}


async def _changes(engine: AsyncEngine, action: str, name: str) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM audit_log WHERE action = :a AND target_id = :n"),
            {"a": action, "n": name},
        )
    return int(count or 0)


async def test_a_lost_answer_retried_gives_the_same_answer_and_one_change(
    client: httpx.AsyncClient, jwt_keys: TestKeySet, engine: AsyncEngine
) -> None:
    name, key = f"thing-{uuid.uuid4()}", str(uuid.uuid4())
    first = await client.post("/things", json={"name": name}, headers=_headers(jwt_keys, key))
    again = await client.post("/things", json={"name": name}, headers=_headers(jwt_keys, key))
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotency-replayed"] == "true"
    assert "idempotency-replayed" not in first.headers
    assert await _changes(engine, "thing.create", name) == 1
    # The replay has its own access record (it showed the answer again).
    async with engine.connect() as conn:
        replays = await conn.scalar(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'POST /things (replayed)'"
                " AND target_id = :k"
            ),
            {"k": key},
        )
    assert replays == 1
    # Without a key, the same body is a second request.
    plain = {"Authorization": _headers(jwt_keys, key)["Authorization"]}
    third = await client.post("/things", json={"name": name}, headers=plain)
    assert third.status_code == 201
    assert third.json()["id"] != first.json()["id"]
    assert await _changes(engine, "thing.create", name) == 2


async def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, jwt_keys: TestKeySet, engine: AsyncEngine
) -> None:
    name, key = f"thing-{uuid.uuid4()}", str(uuid.uuid4())
    headers = _headers(jwt_keys, key)
    assert (await client.post("/things", json={"name": name}, headers=headers)).status_code == 201
    other = await client.post("/things", json={"name": name + "-b"}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert "another request" in other.json()["detail"]
    # Another path with the same key and body is another request too.
    elsewhere = await client.post("/echo", json={"name": name}, headers=headers)
    assert elsewhere.status_code == 422
    assert await _changes(engine, "thing.create", name + "-b") == 0
    assert await _changes(engine, "thing.echo", name) == 0


async def test_keys_belong_to_their_caller(
    client: httpx.AsyncClient, jwt_keys: TestKeySet, engine: AsyncEngine
) -> None:
    name, key = f"thing-{uuid.uuid4()}", str(uuid.uuid4())
    mine = await client.post("/things", json={"name": name}, headers=_headers(jwt_keys, key))
    theirs = await client.post(
        "/things", json={"name": name}, headers=_headers(jwt_keys, key, sub="staff-0002")
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotency-replayed" not in theirs.headers
    assert await _changes(engine, "thing.create", name) == 2


async def test_a_request_still_running_with_the_key_is_answered_409(
    client: httpx.AsyncClient,
    jwt_keys: TestKeySet,
    engine: AsyncEngine,
    gate: dict[str, asyncio.Event],
) -> None:
    name, key = f"slow-{uuid.uuid4()}", str(uuid.uuid4())
    gate[name] = asyncio.Event()
    headers = _headers(jwt_keys, key)
    first = asyncio.create_task(client.post("/things", json={"name": name}, headers=headers))
    await asyncio.wait_for(gate["entered"].wait(), timeout=10)
    meanwhile = await client.post("/things", json={"name": name}, headers=headers)
    assert meanwhile.status_code == 409
    assert "still being processed" in meanwhile.json()["detail"]
    gate[name].set()
    done = await first
    assert done.status_code == 201
    after = await client.post("/things", json={"name": name}, headers=headers)
    assert after.content == done.content
    assert await _changes(engine, "thing.create", name) == 1


async def test_an_error_answer_is_not_kept_and_a_scope_check_comes_before_a_replay(
    client: httpx.AsyncClient, jwt_keys: TestKeySet, engine: AsyncEngine
) -> None:
    name, key = f"thing-{uuid.uuid4()}", str(uuid.uuid4())
    failed = await client.post(
        "/things", json={"name": name, "fail": True}, headers=_headers(jwt_keys, key)
    )
    assert failed.status_code == 422
    # Nothing was kept for the key: a corrected request with it runs.
    done = await client.post("/things", json={"name": name}, headers=_headers(jwt_keys, key))
    assert done.status_code == 201
    # The same caller without the scope any more is refused, not replayed.
    refused = await client.post(
        "/things", json={"name": name}, headers=_headers(jwt_keys, key, scopes=[])
    )
    assert refused.status_code == 403
    assert await _changes(engine, "thing.create", name) == 1


async def test_an_answer_holding_a_secret_or_a_my_number_is_not_kept(
    client: httpx.AsyncClient, jwt_keys: TestKeySet, engine: AsyncEngine
) -> None:
    name, key = f"secret-{uuid.uuid4()}", str(uuid.uuid4())
    headers = _headers(jwt_keys, key)
    issued = await client.post("/secrets", json={"name": name}, headers=headers)
    assert issued.status_code == 201
    retried = await client.post("/secrets", json={"name": name}, headers=headers)
    assert retried.status_code == 409
    assert "not kept" in retried.json()["detail"]
    assert issued.json()["secret"] not in retried.text
    assert await _changes(engine, "secret.issue", name) == 1
    async with engine.connect() as conn:
        kept = await conn.scalar(
            text("SELECT body FROM idempotency_keys WHERE key = :k"), {"k": key}
        )
    assert kept is None
    # An answer with a My Number in it: the record is kept, the number is not.
    key = str(uuid.uuid4())
    echo = await client.post("/echo", json={"name": name}, headers=_headers(jwt_keys, key))
    assert echo.status_code == 201
    my_number = echo.json()["my_number"]
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT body FROM idempotency_keys"))).scalars().all()
    assert not any(body is not None and my_number.encode() in body for body in rows)
    retried = await client.post("/echo", json={"name": name}, headers=_headers(jwt_keys, key))
    assert retried.status_code == 409
    assert my_number not in retried.text
    assert await _changes(engine, "thing.echo", name) == 1


async def test_a_bad_key_is_refused_without_echoing_it(
    client: httpx.AsyncClient, jwt_keys: TestKeySet
) -> None:
    name = f"thing-{uuid.uuid4()}"
    for bad in ("", "x" * 256, "a key with spaces", generate_my_number()):
        answer = await client.post("/things", json={"name": name}, headers=_headers(jwt_keys, bad))
        assert answer.status_code == 422, bad
        assert answer.headers["content-type"] == PROBLEM_CONTENT_TYPE
        if bad:
            assert bad not in answer.text


async def test_the_record_is_written_with_the_change_or_not_at_all(
    client: httpx.AsyncClient, jwt_keys: TestKeySet, engine: AsyncEngine
) -> None:
    """A record that cannot be written (a subject too long for its column) fails the commit:
    the answer is 500 and the change is gone with it."""
    name, key = f"thing-{uuid.uuid4()}", str(uuid.uuid4())
    answer = await client.post(
        "/things", json={"name": name}, headers=_headers(jwt_keys, key, sub="s" * 300)
    )
    assert answer.status_code == 500
    assert await _changes(engine, "thing.create", name) == 0


async def test_expired_keys_are_ignored_and_removed(
    client: httpx.AsyncClient, jwt_keys: TestKeySet, engine: AsyncEngine
) -> None:
    name, key = f"thing-{uuid.uuid4()}", str(uuid.uuid4())
    headers = _headers(jwt_keys, key)
    assert (await client.post("/things", json={"name": name}, headers=headers)).status_code == 201
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE idempotency_keys SET expires_at = now() - interval '1 second'"
                " WHERE key = :k"
            ),
            {"k": key},
        )
    # Expired: the key is free again (the old record is replaced).
    renewed = await client.post("/things", json={"name": name + "-2"}, headers=headers)
    assert renewed.status_code == 201
    assert "idempotency-replayed" not in renewed.headers
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
        )
    assert await delete_expired(engine) >= 1
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM idempotency_keys")) == 0


async def test_the_openapi_document_declares_the_header_on_scoped_posts(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    post = document["paths"]["/things"]["post"]
    [header] = [p for p in post["parameters"] if p["name"] == "Idempotency-Key"]
    assert header["in"] == "header"
    assert not header["required"]
    assert {"409", "422"} <= set(post["responses"])
    health = document["paths"]["/healthz"]["get"]
    assert "Idempotency-Key" not in str(health.get("parameters", []))
