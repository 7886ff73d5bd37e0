"""Running a service app in tests: its real lifespan, HTTP through ASGITransport."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


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
