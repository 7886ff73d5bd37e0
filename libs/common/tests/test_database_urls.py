"""The one set of database URL conversions, and creating and dropping a database."""

import os

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from mch_common.db import (
    asyncpg_dsn,
    asyncpg_url,
    create_database,
    database_name,
    drop_database,
    with_database,
)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@h:5433/db?sslmode=require",
        "postgres://u:p@h:5433/db?sslmode=require",
        "postgresql+asyncpg://u:p@h:5433/db?sslmode=require",
        "postgresql+psycopg://u:p@h:5433/db?sslmode=require",
    ],
)
def test_every_spelling_converts_to_both_drivers(url: str) -> None:
    assert asyncpg_url(url) == "postgresql+asyncpg://u:p@h:5433/db?sslmode=require"
    assert asyncpg_dsn(url) == "postgresql://u:p@h:5433/db?sslmode=require"


def test_another_database_on_the_same_server() -> None:
    url = with_database("postgresql+asyncpg://u:p@h:5433/db?sslmode=require", "other")
    assert url == "postgresql+asyncpg://u:p@h:5433/other?sslmode=require"
    assert database_name(url) == "other"


def test_a_url_of_another_database_system_is_refused() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        asyncpg_url("mysql://u@h/db")


async def test_create_and_drop_a_database(postgres_server_url: str) -> None:
    name = f'test "quoted" {os.getpid()}'
    assert await create_database(postgres_server_url, name)
    try:
        with pytest.raises(DBAPIError, match="already exists"):
            await create_database(postgres_server_url, name)
        assert not await create_database(postgres_server_url, name, exist_ok=True)
        conn = await asyncpg.connect(asyncpg_dsn(postgres_server_url), database=name)
        await conn.close()
    finally:
        await drop_database(postgres_server_url, name)
    assert not await _exists(postgres_server_url, name)
    await drop_database(postgres_server_url, name)  # a missing database is no error


async def _exists(server_url: str, name: str) -> bool:
    conn = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()
