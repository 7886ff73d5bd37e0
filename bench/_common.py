"""Shared helpers for benchmark scripts: a scratch database, servers, the result line."""

import argparse
import contextlib
import gc
import json
import resource
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg

from mch_common.db import create_database, drop_database, with_database
from mch_testing import servers


def wrapper_command_line(
    doc: str, name: str, help: str
) -> tuple[argparse.ArgumentParser, float, list[str]]:
    """A wrapper's command line (cpu_quota.py, slow_cores.py): one number, then `--` and the
    command it runs; the parser, for the wrapper's own checks of the number."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument(name, type=float, help=help)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    return parser, getattr(args, name), command


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


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The load generator's own garbage collector off while it measures latencies: a full
    pass of it stops the event loop for tens of milliseconds (80 ms seen), which a latency
    counted from when a call was due would charge to the service. Its garbage waits (a few MB
    over a phase); the services' collectors run as deployed."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


@contextlib.asynccontextmanager
async def scratch_database(prefix: str) -> AsyncIterator[str]:
    """A fresh database on the test servers (see mch_testing.servers), dropped afterwards."""
    name = f"bench_{prefix}_{secrets.token_hex(4)}"
    with servers.postgres_for_tests() as server:
        await create_database(server, name)
        try:
            yield with_database(server, name)
        finally:
            await drop_database(server, name)


async def _kept_as_it_is(connection: asyncpg.Connection) -> None:
    """Nothing: each ceiling's transaction ends itself, and nothing else sets session state."""


async def ceiling_pool(dsn: str, size: int, *, max_size: int | None = None) -> asyncpg.Pool:
    """The asyncpg pool a ceiling sends its statements through. asyncpg resets a connection
    on release by default (RESET ALL, UNLISTEN *, CLOSE ALL, advisory unlocks: one more round
    trip per transaction); the services' pool (SQLAlchemy's) does not, so neither does this:
    the ceiling sends the service's statements and no others."""
    return await asyncpg.create_pool(
        dsn, min_size=size, max_size=max_size or size, reset=_kept_as_it_is
    )
