"""The whole story (`make demo`) against the dev stack running as real processes: `make run`'s
tools/devstack.py in its own process group, with databases of its own (`MCH_DB_PREFIX`, never
a developer's `mch_*`), ports of its own (`MCH_PORT_BASE`, beside a running `make run`) and
its own embedded NATS with a user per service. Then every line every process wrote and every
message on the stack's streams is searched for a valid My Number, and the stack is stopped as
make stops it (SIGTERM to its process group), its databases dropped."""

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.js.errors import NotFoundError

from mch_common.events.bus import EventBus
from mch_testing.stack import ROOT, Stack, running_stack

from ..conftest import my_number_findings


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("e2e_stack")) as running:
        yield running


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


def test_the_story_runs_end_to_end(stack: Stack) -> None:
    demo = _demo(stack.env, stack.folder / "demo-first.out")
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


def test_the_story_runs_again_on_the_same_stack(stack: Stack) -> None:
    """A second `make demo`: a new applicant, the child who moved in found again."""
    again = _demo(stack.env, stack.folder / "demo-again.out")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "moved in on an earlier run" in again.stdout


def test_a_failing_step_stops_the_demo_with_the_problem_it_got(
    stack: Stack, tmp_path: Path
) -> None:
    """atena's settings pointing at boshi_core's port: the residents step gets boshi_core's
    404 problem+json, prints it under a FAILED line, and the demo exits 1 there."""
    (tmp_path / "env").mkdir()
    settings = {}
    for path in (stack.folder / "env").glob("*.json"):
        settings[path.stem] = json.loads(path.read_text())
    boshi_port = settings["boshi_core"]["BOSHI_PORT"]
    settings["atena"] = {
        key: (boshi_port if key.endswith("_PORT") else value)
        for key, value in settings["atena"].items()
    }
    for name, values in settings.items():
        (tmp_path / "env" / f"{name}.json").write_text(json.dumps(values))
    (tmp_path / "demo_logins.json").write_bytes((stack.folder / "demo_logins.json").read_bytes())
    failed = _demo(
        {**stack.env, "MCH_DEVSTACK_DIR": str(tmp_path)},
        stack.folder / "demo-failing.out",
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    last_step = [line for line in failed.stdout.splitlines() if re.match(r"\[\s*\d+\] ", line)]
    assert last_step[-1].startswith("[ 2] residents exist in atena"), failed.stdout
    assert "FAILED: GET atena /persons answered 404" in last_step[-1]
    problem = failed.stdout.split(last_step[-1], 1)[1]
    assert json.loads(problem)["status"] == 404
    assert "PDFs produced" not in failed.stdout


def test_no_my_number_crossed_nats_or_reached_a_log_and_the_stack_stops_cleanly(
    stack: Stack,
) -> None:
    """Last, after every run above: every message on the stack's streams (read while it
    runs), then the stack stopped by SIGTERM to its group (make forwards it too: a `stopped`
    line, no traceback), then every line every process wrote, complete now."""
    nats = stack.nats_admin()
    messages = asyncio.run(_stream_messages(nats.url, nats.user, nats.password))
    assert len(messages) > 100, "the story's events are not on the streams"
    leaks = [
        f"{where}: {', '.join(why)}"
        for where, text in messages
        if (why := my_number_findings(text, ()))
    ]

    code = stack.stop()
    text = stack.output.read_text()
    assert code == 0, text
    assert "Traceback" not in text
    assert text.rstrip().endswith("devstack stopped"), text

    written = [
        *(stack.folder / "logs").glob("*.log"),
        *stack.folder.glob("demo*.out"),
        stack.output,
        stack.folder / "nats" / "nats-server.log",
    ]
    assert len(written) >= 6 + 3 + 2, written
    for path in written:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if why := my_number_findings(line, ()):
                leaks.append(f"{path.name}:{number}: {', '.join(why)}")
    assert leaks == []
