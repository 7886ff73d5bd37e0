"""`make run` (tools/devstack.py) stopped by SIGTERM to its process group, as make forwards it
(twice), stops cleanly: no traceback, a "stopped" line, exit code 0; and an embedded server
killed while the stack runs is reaped at once, not left a zombie until the stack stops.

The stack runs with no services (an empty services folder) and its own embedded NATS (a free
port, its own .devstack folder), so the test takes a few seconds and touches no database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from mch_testing.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent


def _signal_myself() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(1)  # the handler runs here


def test_the_first_signal_stops_the_run_and_the_next_ones_are_ignored(
    devstack: ModuleType,
) -> None:
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        signal.signal(signal.SIGTERM, devstack._raise_interrupt)
        with pytest.raises(KeyboardInterrupt):
            _signal_myself()
        # The second SIGTERM (make's) finds every stop signal ignored: no second interrupt.
        assert all(signal.getsignal(sig) == signal.SIG_IGN for sig in kept)
        os.kill(os.getpid(), signal.SIGTERM)
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler)


def _state(pid: int) -> str | None:
    """The process's state letter (Z: a zombie), None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    return next(line.split()[1] for line in status.splitlines() if line.startswith("State:"))


def _wait_for(what: str, check: object, output: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not callable(check) or not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen in {timeout}s:\n{output.read_text()}")
        time.sleep(0.2)


def test_sigterm_to_the_process_group_stops_cleanly(tmp_path: Path) -> None:
    services = tmp_path / "services"
    services.mkdir()
    devstack = tmp_path / "devstack"
    output = tmp_path / "output.txt"
    env = {
        **os.environ,
        "MCH_SERVICES_DIR": str(services),
        "MCH_DEVSTACK_DIR": str(devstack),
        "MCH_LOCAL_NATS_PORT": str(free_port()),  # nothing there: an embedded NATS
        "NO_COLOR": "1",
    }
    env.pop("NATS_URL", None)
    with output.open("wb") as sink:
        stack = subprocess.Popen(
            [sys.executable, str(ROOT / "tools" / "devstack.py")],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, as `make run` in a terminal
        )
    try:
        _wait_for("servers are up", lambda: "servers are up" in output.read_text(), output)
        pid_file = devstack / "nats" / "nats-server.pid"
        nats_pid = int(pid_file.read_text().strip())
        os.kill(nats_pid, signal.SIGKILL)
        _wait_for("the killed NATS reaped", lambda: _state(nats_pid) is None, output, 10)

        # make forwards the signal a moment later; keep signalling while the stack stops.
        until = time.monotonic() + 1
        while stack.poll() is None and time.monotonic() < until:
            os.killpg(stack.pid, signal.SIGTERM)
            time.sleep(0.005)
        code = stack.wait(timeout=60)
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
    text = output.read_text()
    assert code == 0, text
    assert "Traceback" not in text
    assert text.rstrip().endswith("devstack stopped"), text
    assert "stopping embedded NATS" in text
