"""The HTTP conventions: problem+json, correlation ids, health, readiness, metrics, JSON logs."""

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi._body_limit import AppBodyLimitMiddleware
from fastapi.telemetry._asgi import ExceptionTelemetryMiddleware
from pydantic import BaseModel
from starlette.middleware.errors import ServerErrorMiddleware

from mch_common.errors import Conflict
from mch_common.logs import JsonFormatter
from mch_common.routes import ServiceRouter
from mch_common.web import CorrelationAndMetricsMiddleware, ServiceApp, create_service_app


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


def _layers(app: FastAPI) -> list[type]:
    """The middleware stack's classes, outermost first, down to the router."""
    layer: Any = app.build_middleware_stack()
    found = []
    while hasattr(layer, "app") and layer is not app.router:
        found.append(type(layer))
        layer = layer.app
    return found


async def test_a_service_app_leaves_out_the_layers_with_nothing_to_do() -> None:
    app = build_app()
    layers = _layers(app)
    assert ExceptionTelemetryMiddleware not in layers  # telemetry is off
    assert AppBodyLimitMiddleware not in layers  # no limit is set
    assert layers[0] is ServerErrorMiddleware
    assert CorrelationAndMetricsMiddleware in layers


async def test_a_body_limit_keeps_its_layer_and_is_enforced() -> None:
    router = ServiceRouter()

    @router.post("/things")
    async def create(body: Body) -> dict[str, int]:
        return {"age": body.age}

    app = ServiceApp(max_body_size=40, telemetry={"tracing": False, "metrics": False})
    app.include_router(router)
    assert AppBodyLimitMiddleware in _layers(app)
    async with await client_for(app) as client:
        small = await client.post("/things", json={"my_number": "x", "age": 3})
        large = await client.post("/things", json={"my_number": "x" * 100, "age": 3})
    assert small.status_code == 200
    assert small.json() == {"age": 3}
    assert large.status_code == 413
