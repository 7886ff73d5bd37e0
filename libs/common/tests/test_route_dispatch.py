"""mch_common.route_dispatch: routes found by the path's first segment answer every request
as the whole router does."""

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request

from mch_common.route_dispatch import FirstSegmentDispatch
from mch_common.routes import ServiceRouter
from mch_common.web import create_service_app


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


def build_app() -> FastAPI:
    items = ServiceRouter(prefix="/items")
    more_items = ServiceRouter()
    anywhere = ServiceRouter()

    @items.get("/{item_id}")
    async def get_item(item_id: int, request: Request) -> dict[str, object]:
        # url_for reaches a route of another router: the scope's router is the whole one.
        # The scope holds what FastAPI's own way puts in it.
        return {
            "item": item_id,
            "list": str(request.url_for("list_people")),
            "route": request.scope["route"].path,
            "path_params": request.scope["path_params"],
            "endpoint": request.scope["endpoint"].__name__,
        }

    @items.post("/")
    async def add_item() -> dict[str, str]:
        return {"added": "yes"}

    @more_items.get("/items/{item_id}/notes")  # a second router with the same first segment
    async def item_notes(item_id: int) -> dict[str, int]:
        return {"notes_of": item_id}

    @more_items.get("/people", name="list_people")
    async def list_people() -> list[str]:
        return []

    @anywhere.get("/{kind}/count")  # a parameter first: tried for every path
    async def count(kind: str) -> dict[str, str]:
        return {"count_of": kind}

    return create_service_app(
        service="demo",
        title="demo",
        description="demo",
        lifespan=lifespan,
        routers=[items, more_items, anywhere],
    )


REQUESTS = [
    ("GET", "/items/7"),
    ("GET", "/items/7/notes"),
    ("GET", "/items/x"),  # 422
    ("PUT", "/items/7"),  # 405
    ("POST", "/items"),  # redirect to /items/
    ("POST", "/items/"),
    ("GET", "/items/7/nothing"),  # 404 within a known segment
    ("GET", "/people"),
    ("GET", "/people/"),  # redirect to /people
    ("GET", "/items/count"),  # /items/{item_id} comes first: 422, as the whole router
    ("GET", "/people/count"),  # the parameter route, through a known segment
    ("GET", "/things/count"),  # ... and an unknown one
    ("GET", "/nowhere"),  # 404
    ("GET", "/"),
    ("GET", "/healthz"),
]


async def _answers(app: FastAPI) -> list[tuple[str, str, int, object, str | None]]:
    seen = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        for method, url in REQUESTS:
            response = await client.request(method, url, follow_redirects=False)
            body = response.json() if response.content else None
            if isinstance(body, dict):
                body.pop("correlation_id", None)
            seen.append((method, url, response.status_code, body, response.headers.get("location")))
    return seen


async def test_routes_found_by_first_segment_answer_as_the_whole_router() -> None:
    narrowed = build_app()
    assert isinstance(narrowed.router.middleware_stack, FirstSegmentDispatch)
    whole = build_app()
    whole.router.middleware_stack = whole.router.app  # FastAPI's loop over every route
    dispatched, answered = await _answers(narrowed), await _answers(whole)
    assert dispatched == answered
    statuses = [status for _, _, status, _, _ in dispatched]
    assert statuses == [200, 200, 422, 405, 307, 200, 404, 200, 307, 422, 200, 200, 404, 404, 200]
    assert dispatched[0][3] == {
        "item": 7,
        "list": "http://t/people",
        "route": "/items/{item_id}",
        "path_params": {"item_id": "7"},
        "endpoint": "get_item",
    }
    assert dispatched[1][3] == {"notes_of": 7}
    assert dispatched[10][3] == {"count_of": "people"}
    assert dispatched[11][3] == {"count_of": "things"}
    # "items" reaches three routers (its own, the second and the parameter one), in order.
    table = narrowed.router.middleware_stack._by_segment
    assert [len(table[s][0].routes) for s in ("items", "people", "healthz")] == [3, 2, 2]
    # ... and they are tried here, each route once, in FastAPI's order.
    leaves = table["items"][1]
    assert leaves is not None
    assert [context.path for _, context, _, _ in leaves] == [
        "/items/{item_id}",
        "/items/",
        "/items/{item_id}/notes",
        "/people",
        "/{kind}/count",
    ]
    # A segment with a route FastAPI's way alone knows (the docs' own) goes FastAPI's way.
    assert table["docs"][1] is None


async def test_a_route_added_after_the_first_request_is_found() -> None:
    app = build_app()
    assert (await _answers(app))[12][2] == 404
    late = ServiceRouter()

    @late.get("/nowhere")
    async def nowhere() -> dict[str, str]:
        return {"now": "here"}

    app.include_router(late)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.get("/nowhere")
    assert response.status_code == 200
    assert response.json() == {"now": "here"}
