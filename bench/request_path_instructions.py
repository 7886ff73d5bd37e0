"""The request path's CPU work counted in instructions (issue 18): what `request_path.py`
measures in time, counted by valgrind's callgrind, which makes it the same on every run of the
same code on any x86-64 machine. On a machine whose speed drifts by half within minutes (other
tenants), two versions' CPU per request measured minutes apart differ by more than most
changes do; their instruction counts differ by what the change did (repeated runs of one
version: within 0.5 %). Compare two versions with `--code <checkout>` (that checkout's
packages, this script).

The app runs in one process, driven as ASGI as in `request_path.py`'s in-process phase, one
request at a time, against PostgreSQL and NATS as deployed; valgrind counts the instructions
of that process alone (not PostgreSQL's, not the kernel's) from the first measured request to
the last. A run of SHORT requests and one of LONG are counted, and their difference divided by
LONG - SHORT: what starting and stopping the count costs falls out. The ceiling is the same
statements sent by raw asyncpg (`request_path.raw_write`, `raw_read`), counted the same way.
The outbox relay and the audit sealer do not run: their rounds take whatever has committed
meanwhile, so what they cost a request depends on timing (request_path.py measures them).

Needs valgrind and a C compiler with valgrind's headers (a developer's machine: `apt install
valgrind gcc`); without them it says so and prints nothing else. Takes about three minutes.
Creates and drops its own database and JetStream namespace. One JSON line per figure.
"""

import argparse
import asyncio
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
from _common import result_line
from boshi_intake import seed_people
from request_path import (
    SCOPES,
    app_headers,
    app_read,
    app_settings,
    app_write,
    raw_read,
    raw_write,
)

from boshi_core.migrate import MIGRATIONS
from boshi_core.testsupport import notification
from mch_common.db import asyncpg_dsn, create_database, drop_database, with_database
from mch_common.events import EventBus
from mch_common.migrations import upgrade_async
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet, serve_jwks
from mch_testing.servers import LOCAL_NATS, LOCAL_POSTGRES

SHORT, LONG = 50, 250
WARMUP = 50  # requests before the count starts: the statements prepared, the caches filled
PATHS = ("write", "read", "raw_write", "raw_read")
# callgrind's client requests, for the measured requests alone (valgrind/callgrind.h).
_CONTROL = """#include <valgrind/callgrind.h>
void count_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void count_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
"""


def say(message: str) -> None:
    sys.stderr.write(f"request_path_instructions: {message}\n")
    sys.stderr.flush()


def build_control(folder: Path) -> Path | None:
    """The shared library the measured process calls to start and stop the count."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or shutil.which("valgrind") is None:
        return None
    source, library = folder / "control.c", folder / "libcontrol.so"
    source.write_text(_CONTROL)
    built = subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(source)],
        capture_output=True,
        text=True,
    )
    return library if built.returncode == 0 else None


async def measured(path: str, count: int, start: int, state: dict[str, object]) -> None:
    """In the process valgrind runs: WARMUP requests, then `count` counted ones."""
    people: list[str] = state["people"]  # type: ignore[assignment]
    control = ctypes.CDLL(str(state["control"]))
    if path.startswith("raw_"):
        # As request_path's ceiling: a connection from an asyncpg pool for each request.
        pool = await asyncpg.create_pool(asyncpg_dsn(str(state["url"])), min_size=1, max_size=1)
        statements = raw_write if path == "raw_write" else raw_read

        async def sent(i: int) -> None:
            async with pool.acquire() as conn:
                await statements(conn, people[i] if path == "raw_write" else people[i % 100])

        try:
            for i in range(start, start + WARMUP):
                await sent(i)
            control.count_start()
            for i in range(start + WARMUP, start + WARMUP + count):
                await sent(i)
            control.count_stop()
        finally:
            await pool.close()
        return
    # Counted apart (see the module): the relay and the sealer wait for the app to stop.
    from mch_common.audit import AuditSealer
    from mch_common.events.relay import OutboxRelay

    async def stand_by(self: OutboxRelay | AuditSealer) -> None:
        await self._stopping.wait()

    OutboxRelay.run = stand_by  # type: ignore[method-assign]
    AuditSealer.run = stand_by  # type: ignore[method-assign]
    keys = TestKeySet()
    with serve_jwks(keys) as jwks_url:
        app = app_settings(
            {
                "environment": "test",
                "database_url": str(state["url"]),
                "nats_url": str(state["nats_url"]),
                "event_namespace": str(state["namespace"]),
                "jwks_url": jwks_url,
                "jwt_issuer": TEST_ISSUER,
                "jwt_audience": TEST_AUDIENCE,
                "db_pool_size": "2",
                "log_level": "WARNING",
            }
        )
        headers = app_headers(keys.mint(sub="bench-staff", scopes=SCOPES, roles=("mch_staff",)))
        last = start + WARMUP + count
        bodies = {i: json.dumps(notification(people[i])).encode() for i in range(start, last)}

        async def send(i: int) -> None:
            if path == "write":
                await app_write(app, headers, bodies[i])
            else:
                await app_read(app, headers, people[i % 100])

        async with app.router.lifespan_context(app):
            for i in range(start, start + WARMUP):
                await send(i)
            control.count_start()
            for i in range(start + WARMUP, last):
                await send(i)
            control.count_stop()


def count(path: str, requests: int, start: int, state_file: Path, code: list[str]) -> int:
    """Instructions of `requests` requests of `path`, counted in a process of their own."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    if code:
        env["PYTHONPATH"] = os.pathsep.join(code)
    run = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--measured",
            path,
            str(requests),
            str(start),
            str(state_file),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    collected = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode != 0 or collected is None:
        raise RuntimeError(f"{path}: the counted run failed:\n{run.stderr[-2000:]}")
    return int(collected.group(1))


def packages_of(checkout: Path) -> list[str]:
    """The source folders of a checkout's packages (its libs and services)."""
    folders = sorted(str(p) for p in checkout.glob("libs/*/src")) + sorted(
        str(p) for p in checkout.glob("services/*/src")
    )
    if not folders:
        raise SystemExit(f"{checkout}: no libs/*/src or services/*/src in it")
    return folders


async def main(code: list[str], checkout: str) -> None:
    server = os.environ.get("DATABASE_URL") or LOCAL_POSTGRES
    nats_url = os.environ.get("NATS_URL") or LOCAL_NATS
    name = f"bench_reqinstr_{os.getpid()}"
    namespace = f"benchri{os.getpid()}"
    with tempfile.TemporaryDirectory() as scratch:
        control = build_control(Path(scratch))
        if control is None:
            say("needs valgrind and a C compiler with valgrind's headers; nothing measured")
            return
        await create_database(server, name)
        url = with_database(server, name)
        per_request: dict[str, float] = {}
        try:
            await upgrade_async(MIGRATIONS, url)
            # Fresh people for every counted write (a person's second notification is refused).
            people = await seed_people(asyncpg_dsn(url), "6", 4 * (WARMUP + LONG) + 100)
            state_file = Path(scratch) / "state.json"
            state = {
                "url": url,
                "nats_url": nats_url,
                "namespace": namespace,
                "people": people,
                "control": str(control),
            }
            state_file.write_text(json.dumps(state))
            start = 0
            for path in PATHS:
                counts = []
                for requests in (SHORT, LONG):
                    counts.append(count(path, requests, start, state_file, code))
                    start += WARMUP + requests
                per_request[path] = (counts[1] - counts[0]) / (LONG - SHORT)
                say(f"{path}: {per_request[path]:,.0f} instructions a request")
        finally:
            await drop_database(server, name)
            bus = await EventBus.connect(nats_url, namespace=namespace, name="bench")
            await bus.delete_namespace()
            await bus.close()
    common: dict[str, Any] = {
        "requests": LONG - SHORT,
        "code": checkout,
    }
    for path, unit in (("write", "notification"), ("read", "profile read")):
        service, raw = per_request[path], per_request[f"raw_{path}"]
        print(
            result_line(
                f"request_path_{path}_instructions",
                service,
                f"instructions/{unit} (the app in one process)",
                ceiling_instructions=round(raw),
                ceiling_is="raw asyncpg, the same statements",
                instruction_ratio=round(raw / service, 4),
                **common,
            )
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", type=Path, help="count another checkout's packages")
    parser.add_argument("--measured", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measured:
        path, requests, start, state_path = args.measured
        state = json.loads(Path(state_path).read_text())
        import uvloop

        uvloop.run(measured(path, int(requests), int(start), state))
    else:
        checkout = args.code.resolve() if args.code else None
        code = packages_of(checkout) if checkout else []
        asyncio.run(main(code, str(checkout) if checkout else "this checkout"))
