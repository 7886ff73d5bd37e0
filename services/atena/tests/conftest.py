"""The atena app on this session's PostgreSQL and NATS; each test's requests run in a
transaction rolled back afterwards (use `committed_client` where the relay must see data)."""

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from atena.config import Settings
from atena.main import create_app
from atena.testing import Headers, person_body
from mch_testing.app import client_in
from mch_testing.keys import TestKeySet

ALL_SCOPES = (
    "atena:person:read",
    "atena:person:write",
    "atena:mynumber:lookup",
    "atena:batch:import",
    "atena:batch:export",
)


@pytest.fixture(scope="session")
def migrations_path() -> Path:
    import atena

    return Path(atena.__file__).parent / "migrations"


@pytest.fixture(scope="session")
def settings(service_settings: dict[str, Any]) -> Settings:
    return Settings(**service_settings)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(
    app: FastAPI, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """Requests share the test's rolled-back transaction."""
    async with client_in(app, sessions) as c:
        yield c


@pytest.fixture
async def committed_client(
    app: FastAPI, committed_sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """Requests really commit (the relay publishes); tables are emptied afterwards."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def headers(jwt_keys: TestKeySet) -> Headers:
    def make(
        *scopes: str, ward: str | None = None, sub: str = "staff-0001", purpose: str | None = None
    ) -> dict[str, str]:
        token = jwt_keys.mint(
            sub=sub,
            scopes=scopes or ALL_SCOPES,
            ward=ward,
            terminal="TERM-0001",
            roles=("mch_staff",),
        )
        result = {"Authorization": f"Bearer {token}"}
        if purpose is not None:
            result["X-Access-Purpose"] = purpose
        return result

    return make


@pytest.fixture
def make_person(client: httpx.AsyncClient, headers: Headers) -> Callable[..., Any]:
    async def make(**overrides: Any) -> dict[str, Any]:
        response = await client.post("/persons", json=person_body(**overrides), headers=headers())
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    return make
