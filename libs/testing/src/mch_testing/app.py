"""Running a service app in tests: its real lifespan, HTTP through ASGITransport, or uvicorn
on a free loopback port when another service must reach it over real HTTP."""

__all__ = ["client_in", "free_port", "running_app", "serve_over_http"]

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mch_testing.embedded import free_port


@asynccontextmanager
async def running_app(
    app: FastAPI, *, sessions: async_sessionmaker[AsyncSession] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """Start the lifespan (engine, NATS, relay, consumers, auth) and yield a client.

    With `sessions`, request handlers use the test's rolled-back transaction instead of the
    service's engine; the relay and consumers still use committed data.
    """
    async with app.router.lifespan_context(app):
        if sessions is not None:
            app.state.sessions = sessions
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


@asynccontextmanager
async def client_in(
    app: FastAPI, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose lifespan is already running (a session-scoped fixture), its
    requests on `sessions` (the test's rolled-back transaction, or committed sessions) until
    the client closes; the app's own sessions are put back afterwards."""
    real = app.state.sessions
    app.state.sessions = sessions
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        app.state.sessions = real


@asynccontextmanager
async def serve_over_http(app: FastAPI) -> AsyncIterator[str]:
    """Run `app` with uvicorn on a free loopback port (lifespan included); yields its base URL.
    For tests where another service must reach this one over real HTTP (JWKS, lookups)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", ws="none", http="h11"
    )
    server = uvicorn.Server(config)
    # The test runner owns the signals.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
