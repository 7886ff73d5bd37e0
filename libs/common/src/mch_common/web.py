"""The HTTP conventions every service shares: app factory, problem+json, health, metrics,
correlation ids, no My Number in a URL, `Cache-Control: no-store`, and the database session
dependency."""

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi._body_limit import AppBodyLimitMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import iter_route_contexts
from fastapi.telemetry._asgi import ExceptionTelemetryMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mch_common.db import unit_of_work
from mch_common.errors import (
    DomainError,
    install_problem_handlers,
    internal_error_response,
    my_number_in_url_response,
    nul_in_url_response,
)
from mch_common.http_metrics import HTTP_METERS
from mch_common.idempotency import IdempotencyMiddleware, Replay, current_request
from mch_common.ids import uuid7
from mch_common.logs import correlation_id
from mch_common.mynumber import contains_my_number, redact_my_numbers
from mch_common.openapi import contract_openapi
from mch_common.refusals import record_person_route_refusal
from mch_common.route_dispatch import dispatch_by_first_segment
from mch_common.routes import ServiceRoute, ServiceRouter, check_service_routes
from mch_common.work import UnitOfWork

CORRELATION_HEADER = "x-correlation-id"
_CORRELATION = CORRELATION_HEADER.encode()

ReadinessCheck = Callable[[], Awaitable[None]]


# Answers without personal data: everything else a service answers is `no-store`.
OPERATIONAL_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
_NO_STORE = (b"cache-control", b"no-store")
_errors_log = logging.getLogger("mch.errors")
PERSON_PARAMS: Mapping[str, str] = {"person_no": "person"}


def url_holds_my_number(scope: Scope) -> bool:
    """A My Number in the path or in any query parameter's name or value (percent-decoded)."""
    if contains_my_number(scope["path"]):
        return True
    query = scope["query_string"].decode("latin-1")
    return bool(query) and any(
        contains_my_number(name) or contains_my_number(value)
        for name, value in parse_qsl(query, keep_blank_values=True)
    )


def url_holds_nul(scope: Scope) -> bool:
    """A NUL character (which PostgreSQL's text cannot hold) in the path or the query."""
    query = scope["query_string"]
    # `find`, not `in`: bytes' `in` tries its operand as an integer first (mch_common.mynumber).
    return "\x00" in scope["path"] or query.find(b"%00") >= 0 or query.find(b"\x00") >= 0


class CorrelationAndMetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): sets the correlation id, records metrics, refuses a
    My Number or a NUL in the URL, marks answers `Cache-Control: no-store`, and answers and logs an
    unhandled error itself, while the correlation id is still set. Starlette's outer
    ServerErrorMiddleware never sees the error, so it is logged once, as one JSON line."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:  # the last one, as a dict of them would hold
            if name == _CORRELATION:
                incoming = value
        cid = incoming.decode("latin-1")[:64] if incoming else str(uuid7())
        token = correlation_id.set(cid)
        no_store = scope["path"] not in OPERATIONAL_PATHS
        status = 500
        responded = False
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status = message["status"]
                responded = True
                headers = [*message.get("headers", ()), (_CORRELATION, cid.encode())]
                if no_store:
                    for name, _ in headers:
                        if name.lower() == _NO_STORE[0]:
                            break
                    else:
                        headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

        try:
            refusal = None
            if url_holds_my_number(scope):
                refusal = my_number_in_url_response(instance=redact_my_numbers(scope["path"]))
            elif url_holds_nul(scope):
                refusal = nul_in_url_response(instance=scope["path"].replace("\x00", ""))
            if refusal is not None:
                await refusal(scope, receive, send_wrapper)
                return
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception:  # noqa: BLE001 - any failure of the request is answered 500 and logged once, here
                _errors_log.exception("unhandled error on %s", scope["path"])
                if not responded:  # else uvicorn closes the half-sent answer
                    answer = internal_error_response(instance=scope["path"], correlation_id=cid)
                    await answer(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            seconds = time.perf_counter() - started
            HTTP_METERS.observe(self.service, scope["method"], route, status, seconds)
            correlation_id.reset(token)


def health_router() -> APIRouter:
    router = ServiceRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: the database and NATS really answer")
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, ReadinessCheck] = getattr(request.app.state, "readiness_checks", {})
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - readiness reports any failure
                results[name] = f"failed: {type(exc).__name__}"
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class ServiceApp(FastAPI):
    """A service's app: its OpenAPI document is the contract of mch_common.openapi. FastAPI's
    telemetry is off (the services' metrics are Prometheus'), and a request goes straight to
    the middleware stack, without the two layers that look for the telemetry on every
    request and the body limit's layer when no limit is set (see `build_middleware_stack`)."""

    def openapi(self) -> dict[str, Any]:
        return contract_openapi(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.root_path or self._native_telemetry.enabled():
            await super().__call__(scope, receive, send)
            return
        # Starlette's __call__, which FastAPI's calls when its telemetry is off.
        scope["app"] = self
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        await self.middleware_stack(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        """FastAPI's stack without the layers a service's request passes through for nothing:
        the telemetry's exception observer with the telemetry off, and the body limit's when
        neither the app nor any route sets a limit."""
        stack = super().build_middleware_stack()
        idle: tuple[type, ...] = ()
        if not self._native_telemetry.enabled():
            idle += (ExceptionTelemetryMiddleware,)
        if self.max_body_size is None and all(
            getattr(context, "max_body_size", None) is None
            for context in iter_route_contexts(self.router.routes)
        ):
            idle += (AppBodyLimitMiddleware,)
        if not isinstance(stack, ServerErrorMiddleware):
            return stack  # not FastAPI's stack as this version builds it: left as it is
        inner = stack.app
        while isinstance(inner, idle):
            inner = inner.app  # type: ignore[attr-defined]
        stack.app = inner
        return stack


def create_service_app(
    *,
    service: str,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    routers: Sequence[APIRouter],
    version: str = "0.1.0",
    person_params: Mapping[str, str] = PERSON_PARAMS,
) -> FastAPI:
    """`person_params`: the path parameters that name a person or a person's record, each
    with its access record's target type; a 401/403/404 on a route with one is recorded."""
    app = ServiceApp(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        # /docs keeps the token given to its Authorize button across reloads.
        swagger_ui_parameters={"persistAuthorization": True},
        # The services' metrics are Prometheus' (below); FastAPI's OpenTelemetry hooks would
        # look for a provider on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.readiness_checks = {}
    app.state.person_params = person_params
    install_problem_handlers(app, on_error=record_person_route_refusal)
    # Inside the correlation middleware: a URL with a My Number is refused before, and an
    # error of the key's commit is answered and logged with the correlation id.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(CorrelationAndMetricsMiddleware, service=service)
    app.router.route_class = ServiceRoute  # a route added to the app itself
    app.include_router(health_router())
    for router in routers:
        app.include_router(router)
    check_service_routes(app)
    dispatch_by_first_segment(app.router)
    return app


def database_check(engine: AsyncEngine) -> ReadinessCheck:
    async def check() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def nats_check(nc: Any) -> ReadinessCheck:
    async def check() -> None:
        if not nc.is_connected:
            raise ConnectionError("NATS is not connected")
        await nc.flush(timeout=2)

    return check


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request with its unit of work (mch_common.work): flushed and
    committed when the handler returns, rolled back on error. A POST with an Idempotency-Key
    works in the transaction its middleware opened, which commits it with the key's record."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    keyed = current_request()
    if keyed is None:
        async with unit_of_work(sessions) as session:
            yield session
        return
    session = await keyed.open()
    keyed.used_by_route = True
    try:
        yield session
        await UnitOfWork.of(session).flush()
    except Replay:
        raise  # the stored answer: the middleware commits the replay's access record
    except BaseException as error:
        keyed.failed = True
        await session.rollback()
        # A refusal's access record outlives the rollback, as in mch_common.db.unit_of_work.
        if (
            isinstance(error, DomainError)
            and error.pending_record is not None
            and not error.access_recorded
        ):
            await error.pending_record(sessions)
        raise


# scope="function": commit before the response is sent, so a failed commit is the answer.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_work(session: Session) -> UnitOfWork:
    return UnitOfWork.of(session)


# A route that only emits and records access takes its unit of work in one parameter.
Work = Annotated[UnitOfWork, Depends(get_work)]
