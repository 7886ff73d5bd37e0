"""mch_common.routes: a ServiceRoute answers every request as FastAPI's own handler does, without
FastAPI's per-request dependency solving."""

import contextlib
import random
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import fastapi.dependencies.utils
import fastapi.routing
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field, Strict

import mch_common.routes
from mch_common.errors import Conflict, Unauthorized
from mch_common.inputs import StrictModel
from mch_common.mynumber import generate_my_number
from mch_common.routes import ServiceRouter, _header_as_sent
from mch_common.web import create_service_app


class Item(StrictModel):
    name: str = Field(max_length=10)
    count: int = Field(ge=0)
    on: date | None = None
    tags: list[str] = Field(default_factory=list)


class Weighed(StrictModel):
    weight: Decimal = Field(ge=0, le=100, decimal_places=1)


class Stamped(StrictModel):
    on: Annotated[date, Strict()]  # strict: a JSON string passes, json.loads's str does not


class ItemOut(BaseModel):
    group: int
    name: str
    count: int
    tag: str | None
    who: str
    session: str
    on: date | None
    tags: list[str]


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


def build_app(log: list[str]) -> FastAPI:
    router = ServiceRouter(prefix="/items", tags=["items"])

    async def session() -> AsyncIterator[str]:
        # As mch_common.web.get_session: ends before the answer is sent, and sees the error.
        log.append("begin")
        try:
            yield "tx"
        except Exception as error:
            log.append(f"rollback {type(error).__name__}")
            raise
        log.append("commit")

    async def caller(request: Request) -> str:
        if request.headers.get("authorization") != "Bearer ok":
            raise Unauthorized("missing bearer token")
        return "staff"

    Session = Annotated[str, Depends(session, scope="function")]
    Caller = Annotated[str, Depends(caller)]

    @router.post("/{group}", status_code=201)
    async def create(
        group: int,
        body: Item,
        tx: Session,
        who: Caller,
        again: Caller,  # the same dependency twice: solved once
        tag: Annotated[str | None, Query(max_length=5)] = None,
    ) -> ItemOut:
        log.append("create")
        if body.name == "clash":
            raise Conflict("an item of this name exists")
        return ItemOut(
            group=group,
            name=body.name,
            count=body.count,
            tag=tag,
            who=who,
            session=tx,
            on=body.on,
            tags=body.tags,
        )

    @router.post("/{group}/weights", status_code=201)
    async def weigh(group: int, body: Weighed, who: Caller) -> dict[str, str]:
        return {"weight": str(body.weight), "who": who}

    @router.post("/{group}/stamps", status_code=201)
    async def stamp(group: int, body: Stamped) -> dict[str, str]:
        return {"on": body.on.isoformat()}

    @router.get("/{group}")
    async def read(group: int, limit: Annotated[int, Query(ge=1, le=50)] = 10) -> dict[str, int]:
        return {"group": group, "limit": limit}

    @router.get("/{group}/names/{name}/{code}")
    async def named(
        group: int, name: str, code: Annotated[str, Path(pattern="^[a-z]+$")]
    ) -> dict[str, Any]:
        # `name` is taken as the route matched it; `group` and `code` are validated.
        return {"group": group, "name": name, "code": code}

    @router.get("/{group}/noted")
    async def noted(
        group: int,
        purpose: Annotated[str | None, Header(alias="X-Access-Purpose")] = None,
        x_trace: Annotated[str | None, Header()] = None,
        ticket: Annotated[str | None, Header(max_length=5)] = None,
    ) -> dict[str, Any]:
        # `purpose` and `x_trace` are taken as sent; `ticket` is checked FastAPI's way.
        return {"purpose": purpose, "trace": x_trace, "ticket": ticket}

    @router.delete("/{group}", status_code=204)
    async def remove(group: int, who: Caller) -> None:
        log.append(f"remove {group}")

    return create_service_app(
        service="demo", title="demo", description="demo", lifespan=lifespan, routers=[router]
    )


def _json() -> dict[str, str]:
    return {"content-type": "application/json"}


def _form() -> dict[str, str]:
    return {"content-type": "application/x-www-form-urlencoded"}


OK = {"authorization": "Bearer ok"}
JSON = OK | {"content-type": "application/json"}
MY_NUMBER = generate_my_number(random.Random(7))
REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/items/1?tag=a", {"json": {"name": "pen", "count": 2}, "headers": OK}),
    ("POST", "/items/1", {"json": {"name": "clash", "count": 2}, "headers": OK}),
    ("POST", "/items/1", {"json": {"name": "pen", "count": "many"}, "headers": OK}),
    ("POST", "/items/1", {"json": {"name": "pen", "count": 1, "extra": 1}, "headers": OK}),
    ("POST", "/items/1", {"content": b'{"name": "pen",', "headers": OK | _json()}),
    ("POST", "/items/1", {"content": b"", "headers": OK | _json()}),
    ("POST", "/items/1", {"content": b'{"name": "x", "count": 1}', "headers": OK}),
    ("POST", "/items/1", {"content": b"name=x", "headers": OK | _form()}),
    ("POST", "/items/one?tag=toolong", {"json": {"name": "pen", "count": -1}, "headers": OK}),
    ("POST", "/items/1", {"json": {"name": "pen", "count": "many"}}),
    # Bodies validated from their bytes, and those that go FastAPI's way for their error.
    ("POST", "/items/1", {"json": {"name": "a", "count": "3", "on": "2026-12-01"}, "headers": OK}),
    ("POST", "/items/1", {"json": {"name": "a", "count": 1.0, "tags": ["x"]}, "headers": OK}),
    ("POST", "/items/1", {"content": b'{"name": "a", "name": "b", "count": 1}', "headers": JSON}),
    ("POST", "/items/1", {"content": b'\xef\xbb\xbf{"name": "bom", "count": 1}', "headers": JSON}),
    ("POST", "/items/1", {"json": {"name": "a", "count": 1, "tags": [MY_NUMBER]}, "headers": OK}),
    ("POST", "/items/1", {"json": {"name": "a", "count": 1, "on": "someday"}, "headers": OK}),
    ("POST", "/items/1/weights", {"content": b'{"weight": 1e1}', "headers": JSON}),
    ("POST", "/items/1/weights", {"json": {"weight": 3.14}, "headers": OK}),
    ("POST", "/items/1/stamps", {"json": {"on": "2026-12-01"}, "headers": OK}),
    ("GET", "/items/2", {}),
    ("GET", "/items/2?limit=0", {}),
    ("GET", "/items/2/names/%E5%B1%B1%20d%2B/abc", {}),
    ("GET", "/items/2/names/x/ABC", {}),
    ("GET", "/items/two/names/x/abc", {}),
    ("DELETE", "/items/3", {"headers": OK}),
    ("DELETE", "/items/3", {}),
    # Headers taken as sent (absent, empty, repeated, any case, Latin-1) or checked.
    ("GET", "/items/4/noted", {}),
    ("GET", "/items/4/noted", {"headers": {"X-Access-Purpose": "", "X-TRACE": "t1"}}),
    ("GET", "/items/4/noted", {"headers": [("x-access-purpose", "a"), ("x-access-purpose", "b")]}),
    ("GET", "/items/4/noted", {"headers": {"x-access-purpose": "caf\xe9".encode("latin-1")}}),
    ("GET", "/items/4/noted", {"headers": {"ticket": "toolong", "x-trace": "t2"}}),
    ("GET", "/items/4/noted", {"headers": {"ticket": "ok", "x_trace": "underscored"}}),
]


async def answers(*, fastapis_own: bool) -> tuple[list[Any], list[str], int, int]:
    """Each request's answer and what the dependencies saw; FastAPI's solver calls, and the
    bodies a ServiceRoute validated FastAPI's way (not from their bytes)."""
    log: list[str] = []
    app = build_app(log)
    if fastapis_own:
        # Overrides make a ServiceRoute hand the request to FastAPI's handler.
        app.dependency_overrides[answers] = answers
    calls = 0
    solve = fastapi.dependencies.utils.solve_dependencies

    async def counted(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await solve(**kwargs)

    bodies = 0
    to_args = vars(mch_common.routes)["request_body_to_args"]

    async def counted_bodies(**kwargs: Any) -> Any:
        nonlocal bodies
        bodies += 1
        return await to_args(**kwargs)

    seen = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fastapi.routing, "solve_dependencies", counted)
        patch.setattr(mch_common.routes, "request_body_to_args", counted_bodies)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            for method, url, kwargs in REQUESTS:
                response = await client.request(method, url, **kwargs)
                body = response.json() if response.content else None
                if isinstance(body, dict):
                    body.pop("correlation_id", None)
                seen.append(
                    (method, url, response.status_code, response.headers.get("content-type"), body)
                )
                log.append("--")
    return seen, log, calls, bodies


async def test_a_service_route_answers_as_fastapis_handler() -> None:
    planned, planned_log, planned_calls, planned_bodies = await answers(fastapis_own=False)
    own, own_log, own_calls, _ = await answers(fastapis_own=True)
    assert planned == own
    assert planned_log == own_log
    # What the answers were (so that the comparison is of answers that mean something).
    statuses = [status for _, _, status, _, _ in planned]
    assert statuses == [
        *(201, 409, 422, 422, 422, 422, 422, 422, 422, 401),
        *(201, 201, 201, 201, 422, 422, 201, 422, 422),
        *(200, 422, 200, 422, 422, 204, 401),
        *(200, 200, 200, 200, 422, 200),
    ]
    assert planned[0][4] == {
        "group": 1,
        "name": "pen",
        "count": 2,
        "tag": "a",
        "who": "staff",
        "session": "tx",
        "on": None,
        "tags": [],
    }
    assert planned[4][4]["errors"][0]["type"] == "json_invalid"
    assert [planned[n][4]["name"] for n in (12, 13)] == ["b", "bom"]
    assert MY_NUMBER not in str(planned[14][4])
    assert planned[16][4] == {"weight": "10.0", "who": "staff"}  # FastAPI's way: a Decimal
    assert planned[18][4]["errors"][0]["type"] == "date_type"  # strict, as FastAPI reads it
    # A plain `str` path parameter is the text matched, decoded; the others validated.
    assert planned[21][4] == {"group": 2, "name": "山 d+", "code": "abc"}
    assert [e["loc"] for n in (22, 23) for e in planned[n][4]["errors"]] == [
        ["path", "code"],
        ["path", "group"],
    ]
    assert planned[24][4] is None  # 204: no body
    assert [planned[n][4] for n in (26, 27, 28, 29, 31)] == [
        {"purpose": None, "trace": None, "ticket": None},
        {"purpose": "", "trace": "t1", "ticket": None},
        {"purpose": "a", "trace": None, "ticket": None},
        {"purpose": "café", "trace": None, "ticket": None},
        {"purpose": None, "trace": None, "ticket": "ok"},  # a header's name has no underscore
    ]
    assert planned[30][4]["errors"][0]["loc"] == ["header", "ticket"]
    assert planned_log[:4] == ["begin", "create", "commit", "--"]
    assert "rollback Conflict" in planned_log
    # FastAPI's solver ran only for the two requests whose body is not plain JSON; its own
    # handler for every request but the one whose JSON is broken (refused before it).
    assert planned_calls == 2
    assert own_calls == len(REQUESTS) - 1
    # Validated FastAPI's way: the bodies refused from their bytes (five invalid, one empty,
    # one with a byte order mark), the two of a model holding a Decimal and the strict one;
    # the other seven JSON bodies were validated from their bytes.
    assert planned_bodies == 10


def test_an_app_with_a_plain_fastapi_router_is_refused() -> None:
    router = APIRouter()

    @router.get("/plain")
    async def plain() -> dict[str, str]:
        return {}

    with pytest.raises(
        TypeError, match=r"/plain: make its router a mch_common\.routes\.ServiceRouter"
    ):
        create_service_app(
            service="demo", title="demo", description="demo", lifespan=lifespan, routers=[router]
        )


def test_only_unchecked_optional_str_headers_are_taken_as_sent() -> None:
    route = next(
        context.original_route
        for context in iter_route_contexts(build_app([]).routes)
        if getattr(context.original_route, "path", "").endswith("/noted")
    )
    assert isinstance(route, APIRoute)
    taken = {f.name: _header_as_sent(f) for f in route.dependant.header_params}
    assert taken == {"purpose": "X-Access-Purpose", "x_trace": "x-trace", "ticket": None}
