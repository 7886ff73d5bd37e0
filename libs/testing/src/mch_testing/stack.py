"""The platform as real processes, for the end-to-end tests (tests/e2e): `make run`'s
tools/devstack.py in its own process group, with databases of its own (`MCH_DB_PREFIX`, never
a developer's `mch_*`) and ports of its own (`MCH_PORT_BASE`, beside a running `make run`).

Servers: by default the machine's PostgreSQL (or devstack's usual choice) and an embedded NATS
devstack starts in the stack's folder. With `own_servers=True` the harness starts an embedded
PostgreSQL and an embedded NATS (one user per service, as devstack's) itself and hands them to
devstack, so a test can restart them (`restart_postgres`, `restart_nats`) without touching the
servers others use.

A service can be killed (`kill`) and started again, or a further replica started on another
port (`start_service`): such processes belong to the harness, append to the service's log and
are stopped with the stack.

    with running_stack(folder, own_servers=True) as stack:
        token = stack.token("registry01")
        httpx.post(stack.url("atena") + "/persons", ...)
        stack.kill("boshi_core")
        stack.start_service("boshi_core")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from mch_common.db import drop_database, with_database
from mch_common.db_roles import drop_runtime_role
from mch_testing.embedded import (
    EmbeddedPostgres,
    embedded_nats,
    free_port,
    save_nats_logins,
    start_embedded_postgres,
    write_nats_users,
)
from mch_testing.servers import repo_root

ROOT = repo_root()
# devstack's start order; identity's port is the base, the others follow.
SERVICES = (
    "identity",
    "atena",
    "boshi_core",
    "e_application",
    "intermediate_server",
    "immunization_bridge",
)
STARTUP_SECONDS = 240
READY_SECONDS = 90
HOST = "127.0.0.1"


def port_base(count: int = len(SERVICES)) -> int:
    """`count` free ports in a row, below the kernel's ephemeral range: there, an outgoing
    connection of the services starting first could take one between this check and its bind
    (seen: the sixth service found its port taken)."""
    rng = random.Random()  # noqa: S311 - ports, not secrets
    for _ in range(100):
        base = rng.randrange(20000, 32000 - count)
        if all(_bindable(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} free ports in a row")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


@dataclass
class NatsLogin:
    url: str
    user: str
    password: str


class OwnedNats:
    """An embedded NATS with one user per service (deploy/nats/services.json), restartable on
    the same port and store."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "auth.conf"
        self.logins = write_nats_users(self.config, ROOT / "deploy" / "nats" / "services.json")
        self.logins_file = folder / "logins.json"
        save_nats_logins(self.logins_file, self.logins)
        self.port = free_port()
        self.url = f"nats://{HOST}:{self.port}"
        self._running: contextlib.ExitStack | None = None

    def start(self) -> None:
        running = contextlib.ExitStack()
        running.enter_context(embedded_nats(self.folder, self.port, config=self.config))
        self._running = running

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


class OwnedPostgres:
    """An embedded PostgreSQL in a folder PostgreSQL's own account can reach (it refuses to
    run as root, and pytest's folders are closed to others), restartable on the same port."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="mch-stack-pg-"))
        self.folder.chmod(0o711)
        self.server: EmbeddedPostgres = start_embedded_postgres(self.folder)
        self.port = self.server.port

    def start(self) -> None:
        self.server = start_embedded_postgres(self.folder, self.port)

    def stop(self) -> None:
        self.server.stop()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Stack:
    folder: Path
    output: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    db_prefix: str
    postgres: OwnedPostgres | None = None
    nats: OwnedNats | None = None
    # Processes the harness started (restarts, replicas), by service: the latest last.
    started: dict[str, list[subprocess.Popen[bytes]]] = field(default_factory=dict)

    # --- where things are ---------------------------------------------------------------------

    def settings(self, service: str) -> dict[str, str]:
        """The service's settings as devstack gave them (env/<svc>.json)."""
        loaded: dict[str, str] = json.loads((self.folder / "env" / f"{service}.json").read_text())
        return loaded

    def port(self, service: str) -> int:
        return int(next(v for k, v in self.settings(service).items() if k.endswith("_PORT")))

    def url(self, service: str, port: int | None = None) -> str:
        return f"http://{HOST}:{port or self.port(service)}"

    @property
    def server_url(self) -> str:
        """The PostgreSQL server's maintenance database, as its superuser."""
        if self.postgres is not None:
            return self.postgres.server.url
        configured = self.env.get("DATABASE_URL", "").strip()
        if configured:
            from mch_common.db import asyncpg_url

            return with_database(asyncpg_url(configured), "postgres")
        port = self.env.get("MCH_LOCAL_PG_PORT", "5432")
        return f"postgresql+asyncpg://postgres@{HOST}:{port}/postgres"

    def database_url(self, service: str) -> str:
        """The service's database as the server's superuser (for a test's checks)."""
        return with_database(self.server_url, f"{self.db_prefix}{service}")

    def nats_admin(self) -> NatsLogin:
        """The NATS URL and the admin login of this stack's server."""
        if self.nats is not None:
            admin = self.nats.logins["admin"]
            return NatsLogin(self.nats.url, admin.user, admin.password)
        config = (self.folder / "nats" / "auth.conf").read_text()
        found = re.search(r'user: "admin", password: "([^"]+)"', config)
        url = re.search(r"NATS JetStream: (nats://\S+)", self.output.read_text())
        if not found or not url:
            raise AssertionError("the stack did not say where its NATS is and who administers it")
        return NatsLogin(url.group(1), "admin", found.group(1))

    def token(self, user: str) -> str:
        """A demo staff member's bearer token (`make token`)."""
        done = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "devstack.py"), "--token", user],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0 or not done.stdout.strip():
            raise AssertionError(f"no token for {user}: {done.stderr}")
        return done.stdout.strip()

    # --- faults -------------------------------------------------------------------------------

    def pid(self, service: str) -> int:
        """The service's newest process: the harness's latest, else devstack's."""
        if self.started.get(service):
            return self.started[service][-1].pid
        recorded: dict[str, int] = json.loads((self.folder / "services.json").read_text())
        return recorded[service]

    def kill(self, service: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the service's newest process (its group) and wait until it is gone."""
        pid = self.pid(service)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
            for process in self.started.get(service, []):
                process.poll()  # reap ours
        if _alive(pid):
            raise AssertionError(f"{service} (pid {pid}) did not end after {sig.name}")

    def start_service(self, service: str, *, port: int | None = None) -> float:
        """Start the service (again, or a replica on `port`) with devstack's settings for it;
        returns the seconds until it answered /readyz."""
        port = port or self.port(service)
        env = {**self.env, **self.settings(service), "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT / "services" / service / "src"), env.get("PYTHONPATH", "")])
        )
        log = self.folder / "logs" / f"{service}.log"
        started = time.monotonic()
        with log.open("ab") as sink:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mch_common.serve",
                    "--factory",
                    f"{service}.main:create_app",
                    "--host",
                    HOST,
                    "--port",
                    str(port),
                ],
                cwd=ROOT / "services" / service,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.setdefault(service, []).append(process)
        wait_ready(self.url(service, port), process, READY_SECONDS)
        return time.monotonic() - started

    def restart_postgres(self) -> None:
        if self.postgres is None:
            raise RuntimeError("the stack runs on a PostgreSQL it does not own")
        self.postgres.stop()
        self.postgres.start()

    def restart_nats(self) -> None:
        if self.nats is None:
            raise RuntimeError("the stack runs on a NATS it does not own")
        self.nats.stop()
        self.nats.start()

    # --- stopping -----------------------------------------------------------------------------

    def stop(self) -> int:
        """SIGTERM to devstack's group (as make stops it) and to the harness's services;
        returns devstack's exit code."""
        ours = [p for processes in self.started.values() for p in processes]
        for process in [self.process, *ours]:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in [self.process, *ours]:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return self.process.returncode


def _alive(pid: int) -> bool:
    from mch_testing.embedded import pid_alive

    return pid_alive(pid)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"{url}: the process exited with {process.returncode}")
            try:
                answer = client.get(f"{url}/readyz")
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:200]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
    raise AssertionError(f"{url} not ready after {timeout:.0f} s: {last}")


def _wait_until_up(stack: Stack) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while "MCH platform is up" not in stack.output.read_text(errors="replace"):
        if stack.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the stack did not come up:\n{stack.output.read_text()}")
        time.sleep(0.5)


def _drop_databases(stack: Stack) -> None:
    for service in (ROOT / "services").glob("*/pyproject.toml"):
        database = f"{stack.db_prefix}{service.parent.name}"
        asyncio.run(drop_database(stack.server_url, database))
        asyncio.run(drop_runtime_role(stack.server_url, database))


@contextlib.contextmanager
def running_stack(folder: Path, *, own_servers: bool = False) -> Iterator[Stack]:
    """The whole stack up (every service ready), stopped and cleaned up on exit: its
    processes, then its databases (or its own servers and their files)."""
    output = folder / "devstack.out"
    env = {
        **os.environ,
        "MCH_DEVSTACK_DIR": str(folder),
        "MCH_DB_PREFIX": f"e2e_{secrets.token_hex(3)}_",
        "MCH_PORT_BASE": str(port_base()),
        "MCH_LOCAL_NATS_PORT": str(free_port()),  # nothing there: devstack's own NATS
        "NO_COLOR": "1",
    }
    env.pop("NATS_URL", None)
    with contextlib.ExitStack() as cleanup:
        postgres = nats = None
        if own_servers:
            postgres = OwnedPostgres()
            cleanup.callback(postgres.remove)
            nats = OwnedNats(folder / "nats")
            nats.start()
            cleanup.callback(nats.stop)
            env.pop("DATABASE_URL", None)
            env |= {
                "MCH_LOCAL_PG_PORT": str(postgres.port),
                "NATS_URL": nats.url,
                "MCH_NATS_LOGINS": str(nats.logins_file),
            }
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, str(ROOT / "tools" / "devstack.py"), "--quiet"],
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, as `make run` in a terminal
            )
        stack = Stack(folder, output, process, env, env["MCH_DB_PREFIX"], postgres, nats)
        try:
            _wait_until_up(stack)
            yield stack
        finally:
            stack.stop()
            if postgres is None:
                _drop_databases(stack)
