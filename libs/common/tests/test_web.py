"""The HTTP conventions: problem+json, correlation ids, health, readiness, metrics, JSON logs."""

import contextlib
import json
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from mch_common.errors import Conflict
from mch_common.logs import JsonFormatter
from mch_common.routes import ServiceRouter
from mch_common.web import create_service_app


class Body(BaseModel):
    my_number: str
    age: int


def build_app() -> FastAPI:
    router = ServiceRouter()

    @router.post("/things")
    async def create(body: Body) -> dict[str, str]:
        raise Conflict("a thing like this is already registered")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def failing() -> None:
            raise ConnectionError("down")

        app.state.readiness_checks = {"database": failing}
        yield

    return create_service_app(
        service="demo", title="demo", description="demo", lifespan=lifespan, routers=[router]
    )


async def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_validation_error_is_problem_json_without_echoing_input() -> None:
    app = build_app()
    async with app.router.lifespan_context(app), await client_for(app) as client:
        response = await client.post("/things", json={"my_number": "123456789018", "age": "old"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "Invalid input"
    assert body["errors"][0]["loc"] == ["body", "age"]
    assert "123456789018" not in response.text


async def test_domain_error_and_correlation_id() -> None:
    app = build_app()
    async with app.router.lifespan_context(app), await client_for(app) as client:
        response = await client.post(
            "/things", json={"my_number": "x", "age": 3}, headers={"X-Correlation-Id": "abc-123"}
        )
    assert response.status_code == 409
    assert response.json()["detail"] == "a thing like this is already registered"
    assert response.headers["x-correlation-id"] == "abc-123"


async def test_unknown_route_is_problem_json() -> None:
    app = build_app()
    async with app.router.lifespan_context(app), await client_for(app) as client:
        response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_nul_in_the_query_is_refused_before_routing() -> None:
    # PostgreSQL's text cannot hold a NUL: a free-text filter carrying one failed as a 500.
    app = build_app()
    async with app.router.lifespan_context(app), await client_for(app) as client:
        response = await client.get("/nowhere", params={"town": "a\x00b"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "NUL" in response.json()["detail"]


async def test_health_readiness_and_metrics() -> None:
    app = build_app()
    async with app.router.lifespan_context(app), await client_for(app) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "failed: ConnectionError"
        await client.post("/things", json={"my_number": "x", "age": 3})
        metrics = (await client.get("/metrics")).text
    assert (
        'mch_http_requests_total{method="POST",route="/things",service="demo",status="409"}'
        in metrics
    )


def test_json_log_lines_redact_my_numbers() -> None:
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "looked up %s", ("123456789018",), None
    )
    line = JsonFormatter("demo").format(record)
    entry = json.loads(line)
    assert entry["message"] == "looked up [REDACTED]"
    assert entry["service"] == "demo"
