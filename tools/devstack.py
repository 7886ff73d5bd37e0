"""`make run`: the whole platform on this machine, stopped with Ctrl-C.

1. Servers. PostgreSQL: `DATABASE_URL` if set (per-service databases are derived from it), else
   127.0.0.1:5432 if something listens there (`MCH_LOCAL_PG_PORT` changes the port), else an
   embedded one in .devstack/pg. NATS likewise: `NATS_URL`, else 127.0.0.1:4222
   (`MCH_LOCAL_NATS_PORT`), else an embedded nats-server in .devstack/nats, which gets one
   user per service (deploy/nats/services.json, mch_common.nats_access) with fresh passwords.
2. Services: every services/<svc>/ holding a pyproject.toml and src/<svc>/main.py, identity
   first (the others fetch its JWKS). Each gets its database `mch_<svc>` (created if missing;
   MCH_DB_PREFIX replaces `mch_`, MCH_PORT_BASE moves the ports),
   its Alembic migrations (as the server's user, the database owner), its runtime role
   `mch_<svc>_app` (mch_common.db_roles: it cannot alter the audit log; password from
   `MCH_RUNTIME_DB_PASSWORD` if set), then, as that role, its optional seeder
   (`python -m <svc>.seed`) and
   `python -m mch_common.serve --factory <svc>.main:create_app` (uvicorn with the JSON log
   configuration) on its port, and must answer /readyz.
3. Logs go to .devstack/logs/<svc>.log and, prefixed, to this console (unless --quiet).

Ctrl-C or SIGTERM stops the services, then any embedded server. See docs/running.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:  # mch_common is imported late: `make run` may have just installed it
    from mch_common.nats_access import Credentials

ROOT = Path(__file__).resolve().parent.parent
# MCH_DEVSTACK_DIR: another folder for the embedded servers and logs (the signal test's own).
DEVSTACK = Path(os.environ.get("MCH_DEVSTACK_DIR") or ROOT / ".devstack").resolve()
LOGS = DEVSTACK / "logs"
# MCH_DB_PREFIX: the services' databases are <prefix><svc> (default mch_<svc>); another prefix
# keeps a second stack (the e2e test's) off a developer's databases on the same server.
DB_PREFIX = os.environ.get("MCH_DB_PREFIX") or "mch_"
PIDS_FILE = DEVSTACK / "services.json"
HOST = "127.0.0.1"
NATS_SERVICES = ROOT / "deploy" / "nats" / "services.json"

# Start order and default ports (DESIGN.md). Unknown services get the next ports after these.
# MCH_PORT_BASE moves them all (identity on the base, the others after it): a second stack
# beside a running `make run`.
_START_ORDER = (
    "identity",
    "atena",
    "boshi_core",
    "e_application",
    "intermediate_server",
    "immunization_bridge",
)
USUAL_PORTS = {name: 8100 + offset for offset, name in enumerate(_START_ORDER)}
_PORT_BASE = int(os.environ.get("MCH_PORT_BASE") or 8100)
DEFAULT_PORTS = {name: _PORT_BASE + offset for offset, name in enumerate(_START_ORDER)}
TAIL_LINES = 30
_ENV_PREFIX = re.compile(r"""env_prefix\s*=\s*["']([A-Z][A-Z0-9_]*?)_["']""")
EMBEDDED: list[str] = []  # embedded servers this run started (stopped when the run ends)


class StartupError(Exception):
    """Something the developer must fix; the message says what."""

    def __init__(self, message: str, log_tail: Sequence[str] = (), log_path: Path | None = None):
        super().__init__(message)
        self.log_tail = list(log_tail)
        self.log_path = log_path


# --- console ----------------------------------------------------------------------------------

_console = threading.Lock()
_COLOURS = ["36", "33", "35", "32", "34", "91", "96", "93"]
_use_colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _paint(text: str, code: str) -> str:
    return f"\033[{code}m{text}\033[0m" if _use_colour else text


# Service and seed output is prefixed with its source, padded to the longest such label.
_LABEL_WIDTH = max(len(name) for name in _START_ORDER) + len(" seed")


def _label(source: str, colour: str) -> str:
    return _paint(f"{source:<{_LABEL_WIDTH}} |", colour)


def say(message: str) -> None:
    with _console:
        print(_paint("devstack", "1") + " " + message, flush=True)


def emit(lines: Sequence[str]) -> None:
    with _console:
        for line in lines:
            print(line, flush=True)


def show_tail(title: str, lines: Sequence[str], path: Path | None) -> None:
    where = f" (full log: {_rel(path)})" if path else ""
    emit([f"---- {title}{where}", *(f"  {line}" for line in lines), "----"])


def _rel(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(ROOT))
    return str(path)


def redact(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


# --- servers ----------------------------------------------------------------------------------


@dataclass
class Servers:
    postgres_url: str  # the maintenance database of the server; services get mch_<svc>
    postgres_from: str
    nats_url: str
    nats_from: str
    # Per service, on the embedded NATS only; "admin" is this script's own.
    nats_logins: dict[str, Credentials] = field(default_factory=dict)


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise StartupError(f"{name}={raw!r} is not a port number")
    return int(raw)


def resolve_postgres(stack: contextlib.ExitStack) -> tuple[str, str]:
    from mch_common.db import asyncpg_url, with_database
    from mch_testing.servers import port_open

    configured = os.environ.get("DATABASE_URL", "").strip()
    if configured:
        return with_database(asyncpg_url(configured), "postgres"), "from DATABASE_URL"
    port = _env_port("MCH_LOCAL_PG_PORT", 5432)
    if port_open(HOST, port):
        return f"postgresql+asyncpg://postgres@{HOST}:{port}/postgres", f"local, port {port}"
    from mch_testing.embedded import embedded_postgres_server

    folder = DEVSTACK / "pg"
    first = "" if (folder / "pgdata" / "PG_VERSION").exists() else " (first run: initdb)"
    say(f"nothing on {HOST}:{port}: starting embedded PostgreSQL in {_rel(folder)}{first}")
    server = stack.enter_context(embedded_postgres_server(folder))
    EMBEDDED.append("PostgreSQL")
    return server.url, f"embedded, data {_rel(folder)}, log {_rel(server.log_path)}"


def resolve_nats(stack: contextlib.ExitStack) -> tuple[str, str, dict[str, Credentials]]:
    """URL, where it came from, and the NATS users (for the embedded server, which this
    script configures, or from MCH_NATS_LOGINS; another server keeps its own configuration)."""
    from mch_testing.embedded import read_nats_logins
    from mch_testing.servers import port_open

    configured = os.environ.get("NATS_URL", "").strip()
    if configured:
        # The users of a server started with them beside the stack (a fault test's).
        given = os.environ.get("MCH_NATS_LOGINS", "").strip()
        return configured, "from NATS_URL", read_nats_logins(Path(given)) if given else {}
    port = _env_port("MCH_LOCAL_NATS_PORT", 4222)
    if port_open(HOST, port):
        return f"nats://{HOST}:{port}", f"local, port {port}", {}
    from mch_testing.embedded import embedded_nats, write_nats_users

    folder = DEVSTACK / "nats"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "auth.conf"
    logins = write_nats_users(config, NATS_SERVICES)
    say(f"nothing on {HOST}:{port}: starting embedded NATS (JetStream) in {_rel(folder)}")
    url = stack.enter_context(embedded_nats(folder, config=config))
    EMBEDDED.append("NATS")
    where = f"embedded, users {_rel(config)}, log {_rel(folder / 'nats-server.log')}"
    return url, where, logins


class _MailFolder:
    """aiosmtpd's handler for the dev mail sink: each message kept as an .eml file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.folder / f"{stamp}-{self.count:04d}.eml"
        # Owner-only from the start: a notice names its applicant.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as kept:
            kept.write(envelope.original_content or envelope.content)
        say(f"mail to {', '.join(envelope.rcpt_tos)} kept in {_rel(path)}")
        return "250 Message accepted for delivery"


def resolve_mail(stack: contextlib.ExitStack) -> str:
    """Where e_application's result notices go: `EAPP_SMTP_HOST`, else a server already on
    127.0.0.1:8025 (`EAPP_SMTP_PORT`), else a mail sink of this run that keeps each message
    in .devstack/mail (a fresh machine has no mail server: without one every notice would be
    retried, and warned about, every few seconds)."""
    from mch_testing.servers import port_open

    configured = os.environ.get("EAPP_SMTP_HOST", "").strip()
    port = _env_port("EAPP_SMTP_PORT", 8025)
    if configured:
        return f"{configured}:{port} (from EAPP_SMTP_HOST)"
    if port_open(HOST, port):
        return f"{HOST}:{port} (local)"
    from aiosmtpd.controller import Controller

    folder = DEVSTACK / "mail"
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)  # also when an earlier run made it
    controller = Controller(_MailFolder(folder), hostname=HOST, port=port)
    controller.start()
    stack.callback(controller.stop)
    EMBEDDED.append("mail sink")
    return f"{HOST}:{port} (a sink of this run: each message kept in {_rel(folder)})"


def report_nats_users(servers: Servers, services: Sequence[Service]) -> None:
    if not servers.nats_logins:
        say(
            f"NATS at {redact(servers.nats_url)} was not started by make run: no per-service "
            "users are configured, every service connects without credentials (see "
            "docs/running.md for a server with deploy/nats/auth.conf)"
        )
        return
    missing = [s.name for s in services if s.name not in servers.nats_logins]
    if missing:
        say(
            f"no NATS user for {', '.join(missing)} in {_rel(NATS_SERVICES)}: "
            "they will be refused by NATS until they are added there"
        )


def check_postgres(url: str) -> str:
    """The server's version; a clear error if it does not answer."""
    from sqlalchemy import pool, text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def query() -> str:
        engine = create_async_engine(url, poolclass=pool.NullPool, hide_parameters=True)
        try:
            async with engine.connect() as conn:
                return str(await conn.scalar(text("show server_version")))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(asyncio.wait_for(query(), timeout=10))
    except Exception as exc:
        raise StartupError(
            f"cannot use PostgreSQL at {redact(url)}: {type(exc).__name__}: {exc}\n"
            "  Set DATABASE_URL to a server you can reach (user needs CREATEDB), or see "
            "docs/running.md"
        ) from exc


def check_nats(url: str) -> None:
    from mch_testing.embedded import nats_info

    first = urlsplit(url.split(",")[0].strip())
    if first.scheme not in {"nats", "tls"} or not first.hostname:
        return  # websocket or unusual URL: the services will tell
    info = nats_info(first.hostname, first.port or 4222, timeout=3)
    if info is None:
        raise StartupError(f"NATS at {redact(url)} does not answer")
    if not info.get("jetstream"):
        raise StartupError(
            f"NATS at {redact(url)} runs without JetStream: restart it with -js "
            "(or unset NATS_URL / free the port to get an embedded one)"
        )


def ensure_database(url: str) -> bool:
    """Create the database named in `url` if missing; True if it was created."""
    from mch_common.db import create_database, database_name

    name = database_name(url)
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise StartupError(f"unexpected database name {name!r} in {redact(url)}")
    return asyncio.run(create_database(url, name, exist_ok=True))


def forget_events(service: Service, nats_url: str, admin: Credentials | None) -> None:
    """A new database starts with no events: drop the service's stream and its consumers'
    positions left in NATS by an earlier stack, or they would describe data that is gone."""
    from mch_common.audit_anchor import AuditAnchors
    from mch_common.events.bus import EventBus

    async def forget() -> list[str]:
        bus = await EventBus.connect(
            nats_url,
            name="devstack",
            user=admin.user if admin else "",
            password=admin.password if admin else "",
        )
        try:
            # The new audit chain starts from nothing: old anchors would call it truncated.
            await AuditAnchors(bus, service.name).forget()
            return await bus.forget_service(service.name)
        finally:
            await bus.close(drain=False)

    deleted = asyncio.run(forget())
    if deleted:
        say(f"{service.name}: new database, so dropped {', '.join(deleted)} from NATS")


# --- services ---------------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    root: Path
    port: int

    @property
    def package(self) -> Path:
        return self.root / "src" / self.name

    @property
    def prefix(self) -> str:
        """The service's settings prefix: `env_prefix` in src/<svc>/config.py (boshi_core uses
        BOSHI_), else the upper-cased name."""
        for module in ("config.py", "settings.py"):
            with contextlib.suppress(OSError):
                found = _ENV_PREFIX.search((self.package / module).read_text(encoding="utf-8"))
                if found:
                    return found.group(1)
        return self.name.upper()

    @property
    def prefixes(self) -> list[str]:
        """The detected prefix, and `<SVC>_` (the documented one) when it differs."""
        return list(dict.fromkeys([self.prefix, self.name.upper()]))

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return LOGS / f"{self.name}.log"


def services_dir() -> Path:
    return Path(os.environ.get("MCH_SERVICES_DIR") or ROOT / "services").resolve()


def discover(only: Sequence[str] = ()) -> list[Service]:
    """Services in start order: identity first, then the known ones, then the rest by name."""
    folder = services_dir()
    names = sorted(
        path.parent.name
        for path in folder.glob("*/pyproject.toml")
        if (path.parent / "src" / path.parent.name / "main.py").is_file()
    )
    unknown = [name for name in only if name not in names]
    if unknown:
        raise StartupError(f"--services: no such service {', '.join(unknown)} in {folder}")
    if only:
        names = [name for name in names if name in only]
    known = list(DEFAULT_PORTS)
    names.sort(key=lambda name: (known.index(name) if name in known else len(known), name))
    next_port = max(DEFAULT_PORTS.values()) + 1
    services = []
    for name in names:
        default = DEFAULT_PORTS.get(name)
        if default is None:
            default, next_port = next_port, next_port + 1
        service = Service(name, folder / name, default)
        for prefix in service.prefixes:  # the last one set wins: <SVC>_PORT
            service.port = _env_port(f"{prefix}_PORT", service.port)
        services.append(service)
    ports = [service.port for service in services]
    clashes = sorted({port for port in ports if ports.count(port) > 1})
    if clashes:
        raise StartupError(f"two services would share port(s) {clashes}: set <SVC>_PORT")
    return services


def service_env(service: Service, servers: Servers, everyone: Sequence[Service]) -> dict[str, str]:
    """The child's environment. A variable already set in ours wins over these defaults."""
    from mch_common.db import with_database

    identity = next((other for other in everyone if other.name == "identity"), None)
    issuer = identity.url if identity else f"http://{HOST}:{DEFAULT_PORTS['identity']}"
    defaults = {
        "DATABASE_URL": with_database(servers.postgres_url, f"{DB_PREFIX}{service.name}"),
        "NATS_URL": servers.nats_url,
        "HOST": HOST,
        "PORT": str(service.port),
        "ENVIRONMENT": "dev",
        "JWT_ISSUER": issuer,
        "JWKS_URL": f"{issuer}/.well-known/jwks.json",
        "TOKEN_URL": f"{issuer}/oauth2/token",
    }
    # Where the others answer, as settings fields like boshi_core's `atena_url`.
    for other in everyone:
        if other.name != service.name:
            defaults[f"{other.name.upper()}_URL"] = other.url
            if other.name == "immunization_bridge":  # boshi_core's `immunization_url`
                defaults["IMMUNIZATION_URL"] = other.url
    if service.name == "boshi_core":
        defaults["DISCLOSURE_SOURCES"] = disclosure_sources(everyone)
    env = dict(os.environ)
    for key, value in defaults.items():
        chosen = next(
            (
                os.environ[f"{p}_{key}"]
                for p in reversed(service.prefixes)
                if f"{p}_{key}" in os.environ
            ),
            value,
        )
        for prefix in service.prefixes:
            env[f"{prefix}_{key}"] = chosen
    login = servers.nats_logins.get(service.name)
    if login is not None:
        for prefix in service.prefixes:
            env[f"{prefix}_NATS_USER"] = login.user
            env[f"{prefix}_NATS_PASSWORD"] = login.password
    # Shared defaults, read by the settings base (prefix MCH_).
    for key in ("NATS_URL", "ENVIRONMENT", "JWT_ISSUER", "JWKS_URL", "TOKEN_URL"):
        env.setdefault(f"MCH_{key}", defaults[key])
    # A service added since the last `make install` still imports.
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(service.root / "src"), env.get("PYTHONPATH", "")])
    )
    env["PYTHONUNBUFFERED"] = "1"
    # The seeds' demo files (the move-in body, the simulated JPKI and applicants' cards) in
    # this stack's folder, where `make demo` finds them.
    env.setdefault("MCH_DEMO_DIR", str(DEVSTACK))
    for prefix in service.prefixes:
        env.setdefault(f"{prefix}_DEMO_DIR", str(DEVSTACK / "eapp"))
    return env


def disclosure_sources(everyone: Sequence[Service]) -> str:
    """boshi_core's disclosure sources (BOSHI_DISCLOSURE_SOURCES): its defaults, which name
    the usual ports, moved to where this stack's services answer (MCH_PORT_BASE, <SVC>_PORT)."""
    from boshi_core.config import DEFAULT_DISCLOSURE_SOURCES

    urls = {other.name: other.url for other in everyone}
    moved = {}
    for name, source in DEFAULT_DISCLOSURE_SOURCES.items():
        usual = f"http://{HOST}:{USUAL_PORTS[name]}" if name in USUAL_PORTS else None
        url = source.url
        if usual and name in urls and url.startswith(usual):
            url = urls[name] + url[len(usual) :]
        moved[name] = {"url": url, "scope": source.scope}
    return json.dumps(moved)


@dataclass
class Child:
    """A running service: its process and the thread copying its output to log and console."""

    service: Service
    process: subprocess.Popen[bytes]
    echo: bool
    colour: str
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    reported_exit: bool = False
    _pump: threading.Thread | None = None

    def start_pump(self) -> None:
        self._pump = threading.Thread(target=self._copy_output, daemon=True)
        self._pump.start()

    def _copy_output(self) -> None:
        if self.process.stdout is None:
            return  # started without a pipe: nothing to copy
        label = _label(self.service.name, self.colour)
        with self.service.log_path.open("a", encoding="utf-8") as log:
            for raw in iter(self.process.stdout.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                log.write(line + "\n")
                log.flush()
                self.tail.append(line)
                if self.echo:
                    emit([f"{label} {line}"])
        self.process.stdout.close()

    def join(self, timeout: float) -> None:
        if self._pump is not None:
            self._pump.join(timeout)


def run_step(
    service: Service, what: str, args: list[str], env: dict[str, str], timeout: float
) -> list[str]:
    """Run a setup step (migrations, seeding) to completion; its output goes to the log."""
    try:
        result = subprocess.run(
            args,
            cwd=service.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
        output, code = result.stdout, result.returncode
    except subprocess.TimeoutExpired as exc:
        output, code = exc.output or b"", None
    lines = output.decode("utf-8", errors="replace").splitlines()
    with service.log_path.open("a", encoding="utf-8") as log:
        log.write(f"==== {what}\n" + "".join(line + "\n" for line in lines))
    if code is None:
        raise StartupError(
            f"{service.name}: {what} did not finish within {timeout:.0f}s",
            lines[-TAIL_LINES:],
            service.log_path,
        )
    if code != 0:
        raise StartupError(
            f"{service.name}: {what} failed (exit code {code})",
            lines[-TAIL_LINES:],
            service.log_path,
        )
    return lines


MIGRATE = (
    "import sys; from pathlib import Path; from mch_common.migrations import upgrade; "
    "upgrade(Path(sys.argv[1]), sys.argv[2])"
)


def prepare(service: Service, env: dict[str, str], servers: Servers) -> list[str]:
    """Database, migrations, runtime role, seed data; from here on `env` connects as the
    runtime role. Returns the seeder's output (demo credentials)."""
    from mch_common.db import database_name
    from mch_common.db_roles import ensure_runtime_role_sync

    database_url = env[f"{service.prefix}_DATABASE_URL"]
    database = database_name(database_url)
    created = ensure_database(database_url)
    if created:
        forget_events(service, env[f"{service.prefix}_NATS_URL"], servers.nats_logins.get("admin"))
    migrations = service.package / "migrations"
    if (migrations / "env.py").is_file():
        say(f"{service.name}: {'created' if created else 'database'} {database}, migrating")
        run_step(
            service,
            "migrations",
            [sys.executable, "-c", MIGRATE, str(migrations), database_url],
            env,
            timeout=300,
        )
    else:
        say(
            f"{service.name}: {'created' if created else 'database'} {database} "
            f"(no migrations folder {_rel(migrations)})"
        )
    runtime_url = ensure_runtime_role_sync(
        database_url, password=os.environ.get("MCH_RUNTIME_DB_PASSWORD")
    )
    for prefix in service.prefixes:
        env[f"{prefix}_DATABASE_URL"] = runtime_url
    if not (service.package / "seed.py").is_file():
        return []
    say(f"{service.name}: seeding demo data")
    lines = run_step(
        service, "seed", [sys.executable, "-m", f"{service.name}.seed"], env, timeout=300
    )
    label = _label(f"{service.name} seed", "2")
    emit([f"{label} {line}" for line in lines])
    return lines


def stop_leftovers(services: Sequence[Service]) -> None:
    """Services an earlier run left behind (it was killed without cleanup) hold our ports."""
    from mch_testing import embedded

    try:
        recorded = json.loads(PIDS_FILE.read_text())
    except (OSError, ValueError):
        return
    for name, pid in recorded.items() if isinstance(recorded, dict) else ():
        if not isinstance(pid, int) or not embedded.pid_alive(pid):
            continue
        if f"{name}.main:create_app" in embedded.process_cmdline(pid) and any(
            service.name == name for service in services
        ):
            say(f"{name}: stopping the copy an earlier run left running (pid {pid})")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            embedded.terminate_pid(pid)
    PIDS_FILE.unlink(missing_ok=True)


def remember_env(service: Service, env: dict[str, str]) -> None:
    """The service's own settings as this run gives them (.devstack/env/<svc>.json, readable
    by its owner only), for commands run beside the stack (`make token`)."""
    folder = DEVSTACK / "env"
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)  # also when an earlier run made it
    mine = {
        key: value
        for key, value in env.items()
        if any(key.startswith(f"{prefix}_") for prefix in service.prefixes)
    }
    path = folder / f"{service.name}.json"
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps(mine), encoding="utf-8")


def print_token(login_id: str) -> int:
    """`make token USER=<user id>`: identity.dev_token with identity's settings of the running
    stack; the token alone on stdout. identity refuses unless its ENVIRONMENT is dev."""
    path = DEVSTACK / "env" / "identity.json"
    if not path.is_file():
        sys.stderr.write("no stack has run here yet: start it with `make run`\n")
        return 1
    env = {**os.environ, **json.loads(path.read_text(encoding="utf-8"))}
    identity = services_dir() / "identity"
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(identity / "src"), env.get("PYTHONPATH", "")])
    )
    command = [sys.executable, "-m", "identity.dev_token", login_id]
    return subprocess.run(command, env=env, stdin=subprocess.DEVNULL, check=False).returncode


def reset_demo_data(services: Sequence[Service]) -> int:
    """`make reset`: every service's database dropped (the next `make run` creates, migrates
    and seeds it afresh, and drops its old events from NATS), so the demo logins it prints
    work again after someone changed a user. The stack must be stopped first."""
    from mch_common.db import asyncpg_url, drop_database, with_database
    from mch_common.db_roles import drop_runtime_role
    from mch_testing import embedded
    from mch_testing.servers import port_open

    with contextlib.suppress(OSError, ValueError):
        recorded = json.loads(PIDS_FILE.read_text())
        if any(isinstance(pid, int) and embedded.pid_alive(pid) for pid in recorded.values()):
            sys.stderr.write("the stack is running: stop `make run` first, then reset\n")
            return 1
    configured = os.environ.get("DATABASE_URL", "").strip()
    port = _env_port("MCH_LOCAL_PG_PORT", 5432)
    if configured or port_open(HOST, port):
        server = (
            with_database(asyncpg_url(configured), "postgres")
            if configured
            else f"postgresql+asyncpg://postgres@{HOST}:{port}/postgres"
        )
        for service in services:
            database = f"{DB_PREFIX}{service.name}"
            asyncio.run(drop_database(server, database))
            asyncio.run(drop_runtime_role(server, database))
            say(f"{service.name}: dropped {database}")
    elif (DEVSTACK / "pg").exists():
        import shutil

        shutil.rmtree(DEVSTACK / "pg")
        say(f"removed the embedded PostgreSQL's data in {_rel(DEVSTACK / 'pg')}")
    for path in (DEVSTACK / "env").glob("*.json"):
        path.unlink()
    say("demo data reset: the next `make run` seeds it afresh and prints new demo logins")
    return 0


def record_pids(children: Sequence[Child]) -> None:
    PIDS_FILE.write_text(json.dumps({c.service.name: c.process.pid for c in children}))


def start(service: Service, env: dict[str, str], echo: bool, colour: str) -> Child:
    from mch_testing.servers import port_open

    if port_open(HOST, service.port):
        raise StartupError(
            f"{service.name}: port {service.port} is taken (another `make run`?). "
            f"Stop that process or set {service.prefix}_PORT."
        )
    say(f"{service.name}: starting on {service.url}")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mch_common.serve",
            "--factory",
            f"{service.name}.main:create_app",
            "--host",
            HOST,
            "--port",
            str(service.port),
        ],
        cwd=service.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Own session: the terminal's Ctrl-C reaches only us, and we stop children in order.
        start_new_session=True,
    )
    child = Child(service, process, echo, colour)
    child.start_pump()
    return child


def wait_ready(child: Child, timeout: float) -> float:
    started = time.monotonic()
    url = f"{child.service.url}/readyz"
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while True:
            code = child.process.poll()
            if code is not None:
                child.join(2)
                raise StartupError(
                    f"{child.service.name} exited with code {code} while starting",
                    list(child.tail),
                    child.service.log_path,
                )
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return time.monotonic() - started
                last = f"HTTP {response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__} {exc}".strip()
            if time.monotonic() - started > timeout:
                raise StartupError(
                    f"{child.service.name} not ready after {timeout:.0f}s: GET {url} -> {last}",
                    list(child.tail),
                    child.service.log_path,
                )
            time.sleep(0.25)


def stop_children(children: Sequence[Child], timeout: float = 15.0) -> None:
    running = [child for child in children if child.process.poll() is None]
    if running:
        say(f"stopping {', '.join(child.service.name for child in reversed(running))}")
    for child in reversed(running):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in reversed(running):
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{child.service.name} did not stop within {timeout:.0f}s: killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()
    for child in children:
        child.join(5)
    PIDS_FILE.unlink(missing_ok=True)


# --- summary ----------------------------------------------------------------------------------


def print_summary(
    servers: Servers, children: Sequence[Child], seeds: dict[str, list[str]], echo: bool
) -> None:
    rows = [("service", "API docs", "liveness", "readiness")]
    rows += [
        (
            c.service.name,
            f"{c.service.url}/docs",
            f"{c.service.url}/healthz",
            f"{c.service.url}/readyz",
        )
        for c in children
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["", _paint("MCH platform is up", "1;32")]
    for index, row in enumerate(rows):
        text = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        lines.append("  " + (_paint(text, "1") if index == 0 else text))
    lines += [
        "",
        f"  PostgreSQL  {redact(servers.postgres_url)}  ({servers.postgres_from})",
        f"  NATS        {redact(servers.nats_url)}  ({servers.nats_from})",
        f"  logs        {_rel(LOGS)}/<service>.log"
        + ("" if echo else "  (not shown here: --quiet)"),
    ]
    for name, output in seeds.items():
        if output:
            lines += ["", _paint(f"Demo data from {name}.seed:", "1"), *(f"  {x}" for x in output)]
    lines += [
        "",
        "`make demo` in a second terminal plays the whole story against it. Ctrl-C stops "
        "everything.",
        "",
    ]
    emit(lines)


# --- main -------------------------------------------------------------------------------------


def _raise_interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    """The first signal stops the run; the rest are ignored. A SIGTERM to `make run`'s process
    group arrives twice (once from the sender, once forwarded by make), and a second
    KeyboardInterrupt raised while the first is being handled would end in a traceback and
    leave the services running."""
    _ignore_signals()
    raise KeyboardInterrupt


def _ignore_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the MCH platform locally (make run).")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="write service logs to .devstack/logs only, not to the console",
    )
    parser.add_argument(
        "--services",
        default="",
        help="comma-separated subset to start (default: every service found)",
    )
    parser.add_argument(
        "--token",
        metavar="USER_ID",
        help="print a bearer token for a demo user of the running stack and exit (dev only; "
        "make token USER=...)",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="drop every service's database (the stack stopped), so the next run seeds the "
        "demo data afresh (make reset)",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=float(os.environ.get("MCH_READY_TIMEOUT", "90")),
        help="seconds each service has to answer /readyz (default 90)",
    )
    return parser.parse_args(argv)


def watch(children: list[Child]) -> None:
    """Until interrupted: report a service that dies (the others keep running)."""
    while True:
        time.sleep(0.5)
        for child in children:
            code = child.process.poll()
            if code is not None and not child.reported_exit:
                child.reported_exit = True
                child.join(2)
                say(f"{child.service.name} exited with code {code}; the others keep running")
                show_tail(
                    f"last lines of {child.service.name}", list(child.tail), child.service.log_path
                )


def run(args: argparse.Namespace, stack: contextlib.ExitStack, children: list[Child]) -> int:
    only = [name.strip() for name in args.services.split(",") if name.strip()]
    services = discover(only)
    DEVSTACK.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(exist_ok=True)

    postgres_url, postgres_from = resolve_postgres(stack)
    version = check_postgres(postgres_url)
    say(f"PostgreSQL {version}: {redact(postgres_url)} ({postgres_from})")
    nats_url, nats_from, nats_logins = resolve_nats(stack)
    check_nats(nats_url)
    say(f"NATS JetStream: {redact(nats_url)} ({nats_from})")
    servers = Servers(postgres_url, postgres_from, nats_url, nats_from, nats_logins)
    if any(service.name == "e_application" for service in services):
        say(f"mail (e_application's result notices): {resolve_mail(stack)}")

    if not services:
        say(
            f"no services found in {_rel(services_dir())} (a service is services/<svc>/ with "
            "pyproject.toml and src/<svc>/main.py)"
        )
        say("servers are up; Ctrl-C stops them")
        while True:
            time.sleep(3600)

    say(f"services: {', '.join(s.name for s in services)}")
    report_nats_users(servers, services)
    stop_leftovers(services)
    seeds: dict[str, list[str]] = {}
    for index, service in enumerate(services):
        service.log_path.write_text("")
        env = service_env(service, servers, services)
        seeds[service.name] = prepare(service, env, servers)
        remember_env(service, env)
        child = start(service, env, echo=not args.quiet, colour=_COLOURS[index % len(_COLOURS)])
        children.append(child)
        record_pids(children)
        took = wait_ready(child, args.ready_timeout)
        say(f"{service.name}: ready in {took:.1f}s")
    print_summary(servers, children, seeds, echo=not args.quiet)
    watch(children)
    return 0  # unreachable: watch() returns only by KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.token is not None:
        return print_token(args.token)
    if args.reset:
        try:
            return reset_demo_data(discover())
        except StartupError as error:
            say(f"error: {error}")
            return 1
    # SIGINT too: a shell starting us in the background (`make run &`) leaves it ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)
    children: list[Child] = []
    code = 0
    with contextlib.ExitStack() as stack:  # embedded servers: stopped last
        try:
            code = run(args, stack, children)
        except KeyboardInterrupt:
            emit([""])
            say("interrupted")
        except StartupError as error:
            say(_paint(f"error: {error}", "1;31"))
            if error.log_tail or error.log_path:
                show_tail("last lines", error.log_tail, error.log_path)
            code = 1
        except Exception as error:  # noqa: BLE001 - report, then still clean up below
            say(_paint(f"error: {type(error).__name__}: {error}", "1;31"))
            code = 1
        finally:
            _ignore_signals()  # a second Ctrl-C must not leave orphans
            stop_children(children)
            if EMBEDDED:
                say(f"stopping embedded {' and '.join(EMBEDDED)}")
    say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
