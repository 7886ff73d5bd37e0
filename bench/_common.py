"""Shared helpers for benchmark scripts: a scratch database, servers, the result line."""

import contextlib
import json
import resource
import secrets
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text

from mch_common import infra
from mch_common.db import create_engine


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def result_line(
    bench: str,
    value: float,
    unit: str,
    *,
    target: float | None = None,
    ceiling: float | None = None,
    **extra: Any,
) -> str:
    """The one JSON line per figure that DESIGN.md asks every benchmark to end with."""
    line: dict[str, Any] = {
        "bench": bench,
        "value": round(value, 4),
        "unit": unit,
        "target": target,
    }
    if ceiling is not None:
        line["ceiling"] = round(ceiling, 4)
        line["ratio"] = round(value / ceiling, 4) if ceiling else None
    line["peak_rss_mb"] = peak_rss_mb()
    line.update(extra)
    return json.dumps(line, ensure_ascii=False)


@contextlib.asynccontextmanager
async def scratch_database(prefix: str) -> AsyncIterator[str]:
    """A fresh database on the test servers (see mch_common.infra), dropped afterwards."""
    name = f"bench_{prefix}_{secrets.token_hex(4)}"
    with infra.postgres_for_tests() as server:
        admin = create_engine(server, pool_size=1)
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield infra.with_database(server, name)
        finally:
            async with admin.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()
