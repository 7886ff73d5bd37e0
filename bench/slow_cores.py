"""Run a bench as on a machine with slower cores: on every core a real-time process takes a
fixed share of each 2 ms, and everything else runs in what is left, in parallel as before.

    sudo .venv/bin/python bench/slow_cores.py 0.45 -- .venv/bin/python bench/atena_load.py

SPEED is the share of each core left to the bench, its replicas, PostgreSQL and NATS (0.45:
every core as if it ran at 45 % of its clock). Unlike `bench/cpu_quota.py`, which gives all
of them one budget (a single process may take the whole of it, and when it is spent every
one of them waits for the next period together), the processes keep running side by side on
both cores, each no faster than its core: what a 2-core machine of a slower kind does. A
taker is a SCHED_FIFO process pinned to its core that spins for its share of a period and
sleeps for the rest; the kernel leaves real-time processes at most 95 % of a core, so the
machine stays usable whatever happens. It needs root (real-time scheduling). The takers stop
when the command ends, however it ends, and by themselves if this process dies.

On 2026-12-06 a SPEED calibrated against the figures issue 18 was filed with (the code of
that day run under it reproduced that day's machine) is in docs/benchmarks.md.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

from _common import wrapper_command_line

PERIOD = 0.002  # seconds: a core is taken for part of every 2 ms
_PR_SET_PDEATHSIG = 1


def say(message: str) -> None:
    sys.stderr.write(f"slow_cores: {message}\n")
    sys.stderr.flush()


def take(cpu: int, share: float, parent: int) -> None:
    """In a child: hold `cpu` for `share` of every PERIOD, until the parent is gone."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.sched_setaffinity(0, {cpu})
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    busy, idle = share * PERIOD, (1 - share) * PERIOD
    clock = time.perf_counter
    while os.getppid() == parent:
        until = clock() + busy
        while clock() < until:
            pass
        time.sleep(idle)


def main() -> int:
    parser, speed, command = wrapper_command_line(
        __doc__ or "", "speed", "share of each core left (0.1-1.0)"
    )
    if not 0.1 <= speed <= 1.0:
        parser.error("speed must be between 0.1 and 1.0")
    if os.geteuid() != 0:
        raise SystemExit("slow_cores: real-time scheduling needs root")
    share = 1.0 - speed
    takers = []
    if share > 0:
        parent = os.getpid()
        for cpu in sorted(os.sched_getaffinity(0)):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child never returns
                try:
                    take(cpu, share, parent)
                finally:
                    os._exit(0)
            takers.append(pid)
        say(f"{len(takers)} cores at {speed:.0%} of their speed")
    started = time.monotonic()
    try:
        return subprocess.call(command)
    finally:
        for pid in takers:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        if takers:
            say(f"cores back at full speed after {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
