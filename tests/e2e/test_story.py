"""The whole story (`make demo`) against the dev stack running as real processes: `make run`'s
tools/devstack.py in its own process group, with databases of its own (`MCH_DB_PREFIX`, never
a developer's `mch_*`), ports of its own (`MCH_PORT_BASE`, beside a running `make run`) and
its own embedded NATS with a user per service. Then every line every process wrote and every
message on the stack's streams is searched for a valid My Number, and the stack is stopped as
make stops it (SIGTERM to its process group), its databases dropped."""

import asyncio
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nats.js.errors import NotFoundError

from mch_common.db import asyncpg_url, drop_database, with_database
from mch_common.db_roles import drop_runtime_role
from mch_common.events.bus import EventBus
from mch_testing.embedded import free_port

from ..conftest import my_number_findings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = 6
STARTUP_SECONDS = 240


@dataclass
class RunningStack:
    folder: Path
    output: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    db_prefix: str


def _port_base() -> int:
    """Six free ports in a row for the six services, below the kernel's ephemeral range: there,
    an outgoing connection of the services starting before them could take one between this
    check and its bind (seen: the sixth service found its port taken)."""
    rng = random.Random()
    for _ in range(100):
        base = rng.randrange(20000, 32000 - SERVICES)
        if all(_bindable(base + i) for i in range(SERVICES)):
            return base
    raise RuntimeError("no six free ports in a row")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_until_up(stack: RunningStack) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while "MCH platform is up" not in stack.output.read_text(errors="replace"):
        if stack.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the stack did not come up:\n{stack.output.read_text()}")
        time.sleep(0.5)


def _server_url(env: dict[str, str]) -> str:
    configured = env.get("DATABASE_URL", "").strip()
    if configured:
        return with_database(asyncpg_url(configured), "postgres")
    return (
        f"postgresql+asyncpg://postgres@127.0.0.1:{env.get('MCH_LOCAL_PG_PORT', '5432')}/postgres"
    )


def _drop_databases(env: dict[str, str], prefix: str) -> None:
    server = _server_url(env)
    for service in (ROOT / "services").glob("*/pyproject.toml"):
        database = f"{prefix}{service.parent.name}"
        asyncio.run(drop_database(server, database))
        asyncio.run(drop_runtime_role(server, database))


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    folder = tmp_path_factory.mktemp("e2e_stack")
    output = folder / "devstack.out"
    prefix = f"e2e_{secrets.token_hex(3)}_"
    env = {
        **os.environ,
        "MCH_DEVSTACK_DIR": str(folder),
        "MCH_DB_PREFIX": prefix,
        "MCH_PORT_BASE": str(_port_base()),
        "MCH_LOCAL_NATS_PORT": str(free_port()),  # nothing there: its own embedded NATS
        "NO_COLOR": "1",
    }
    env.pop("NATS_URL", None)
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
    stack = RunningStack(folder, output, process, env, prefix)
    try:
        _wait_until_up(stack)
        yield stack
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        _drop_databases(env, prefix)


def _nats_admin(folder: Path) -> tuple[str, str, str]:
    """The embedded NATS's URL and the admin login devstack wrote for this run."""
    config = (folder / "nats" / "auth.conf").read_text()
    found = re.search(r'user: "admin", password: "([^"]+)"', config)
    assert found, "no admin user in the stack's NATS configuration"
    url = re.search(r"NATS JetStream: (nats://\S+)", (folder / "devstack.out").read_text())
    assert url, "the stack did not say where its NATS is"
    return url.group(1), "admin", found.group(1)


async def _stream_messages(url: str, user: str, password: str) -> list[tuple[str, str]]:
    """(where, text) of every message every stream holds, read back by sequence."""
    bus = await EventBus.connect(url, name="e2e-scan", user=user, password=password)
    found: list[tuple[str, str]] = []
    try:
        for info in await bus.streams():
            name = info.config.name or ""
            for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
                try:
                    msg = await bus.js.get_msg(name, seq)
                except NotFoundError:
                    continue
                headers = str(msg.headers or {})
                text = f"{msg.subject} {headers} {(msg.data or b'').decode()}"
                found.append((f"{name} #{seq}", text))
    finally:
        await bus.close()
    return found


def test_the_story_runs_end_to_end(running_stack: RunningStack) -> None:
    demo = _demo(running_stack.env, running_stack.folder / "demo-first.out")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    lines = demo.stdout.splitlines()
    steps = [line for line in lines if re.match(r"\[\s*\d+\] ", line)]
    assert steps, demo.stdout
    assert all(": ok (" in line for line in steps), demo.stdout
    assert any("previous city" in line or "Fukuoka checkups" in line for line in steps)
    assert any(line.startswith("[ 3] Fukuoka City's residents exist") for line in steps)
    listed = lines[lines.index("PDFs produced:") + 1 :] if "PDFs produced:" in lines else []
    pdfs = [Path(line.strip()) for line in listed if line.startswith("  ")]
    assert any("disclosure" in p.name for p in pdfs), demo.stdout
    assert any("reminder" in str(p) for p in pdfs), demo.stdout
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)


def _demo(env: dict[str, str], out: Path) -> subprocess.CompletedProcess[str]:
    """A `make demo` run; its output kept in `out` (the scan reads it)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "demo.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out.write_text(done.stdout + done.stderr)
    return done


def test_the_story_runs_again_on_the_same_stack(running_stack: RunningStack) -> None:
    """A second `make demo`: a new applicant, the child who moved in found again."""
    again = _demo(running_stack.env, running_stack.folder / "demo-again.out")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "moved in on an earlier run" in again.stdout


def test_a_failing_step_stops_the_demo_with_the_problem_it_got(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    """atena's settings pointing at boshi_core's port: the residents step gets boshi_core's
    404 problem+json, prints it under a FAILED line, and the demo exits 1 there."""
    (tmp_path / "env").mkdir()
    settings = {}
    for path in (running_stack.folder / "env").glob("*.json"):
        settings[path.stem] = json.loads(path.read_text())
    boshi_port = settings["boshi_core"]["BOSHI_PORT"]
    settings["atena"] = {
        key: (boshi_port if key.endswith("_PORT") else value)
        for key, value in settings["atena"].items()
    }
    for name, values in settings.items():
        (tmp_path / "env" / f"{name}.json").write_text(json.dumps(values))
    (tmp_path / "demo_logins.json").write_bytes(
        (running_stack.folder / "demo_logins.json").read_bytes()
    )
    failed = _demo(
        {**running_stack.env, "MCH_DEVSTACK_DIR": str(tmp_path)},
        running_stack.folder / "demo-failing.out",
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    last_step = [line for line in failed.stdout.splitlines() if re.match(r"\[\s*\d+\] ", line)]
    assert last_step[-1].startswith("[ 2] residents exist in atena"), failed.stdout
    assert "FAILED: GET atena /persons answered 404" in last_step[-1]
    problem = failed.stdout.split(last_step[-1], 1)[1]
    assert json.loads(problem)["status"] == 404
    assert "PDFs produced" not in failed.stdout


def test_no_my_number_crossed_nats_or_reached_a_log_and_the_stack_stops_cleanly(
    running_stack: RunningStack,
) -> None:
    """Last, after every run above: every message on the stack's streams (read while it
    runs), then the stack stopped by SIGTERM to its group (make forwards it too: a `stopped`
    line, no traceback), then every line every process wrote, complete now."""
    url, user, password = _nats_admin(running_stack.folder)
    messages = asyncio.run(_stream_messages(url, user, password))
    assert len(messages) > 100, "the story's events are not on the streams"
    leaks = [
        f"{where}: {', '.join(why)}"
        for where, text in messages
        if (why := my_number_findings(text, ()))
    ]

    os.killpg(running_stack.process.pid, signal.SIGTERM)
    code = running_stack.process.wait(timeout=60)
    text = running_stack.output.read_text()
    assert code == 0, text
    assert "Traceback" not in text
    assert text.rstrip().endswith("devstack stopped"), text

    written = [
        *(running_stack.folder / "logs").glob("*.log"),
        *running_stack.folder.glob("demo*.out"),
        running_stack.output,
        running_stack.folder / "nats" / "nats-server.log",
    ]
    assert len(written) >= 6 + 3 + 2, written
    for path in written:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if why := my_number_findings(line, ()):
                leaks.append(f"{path.name}:{number}: {', '.join(why)}")
    assert leaks == []
