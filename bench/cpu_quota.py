"""Run a bench as on a slower machine: PostgreSQL, NATS and the command (with the replicas it
starts) share a CPU quota, then everything is put back as it was.

    sudo .venv/bin/python bench/cpu_quota.py 0.8 -- .venv/bin/python bench/network_inquiry.py

The quota is in cores for all of them together (0.8: eight tenths of one core, every 10 ms),
through the kernel's CFS bandwidth control (cgroup v2's `cpu.max`, else cgroup v1's `cpu`
hierarchy); it needs root. A target that holds only on a fast machine shows here where it
stops holding (docs/benchmarks.md, 2026-12-05: the quota that matched the slower machines of
earlier days). The servers already running are moved into the group and back out when the
command ends, however it ends: left in it, they would stay slow for whatever runs next.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

from _common import wrapper_command_line

PERIOD_US = 10_000  # short, so a throttled group waits milliseconds, not a tenth of a second
SERVERS = ("postgres", "nats-server")  # by process name, as the machine runs them


def say(message: str) -> None:
    sys.stderr.write(f"cpu_quota: {message}\n")
    sys.stderr.flush()


class QuotaGroup:
    """A cgroup of its own under the root of the hierarchy that has the CPU controller."""

    def __init__(self, cores: float) -> None:
        name = f"mch-bench-quota-{os.getpid()}"
        quota = max(1_000, round(cores * PERIOD_US))
        v2, v1 = Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/cpu")
        if "cpu" in _read(v2 / "cgroup.controllers").split():
            self.root, self.limits = v2, {"cpu.max": f"{quota} {PERIOD_US}"}
            if "cpu" not in _read(v2 / "cgroup.subtree_control").split():
                (v2 / "cgroup.subtree_control").write_text("+cpu")
        elif (v1 / "cpu.cfs_quota_us").exists():
            self.root = v1
            self.limits = {"cpu.cfs_period_us": str(PERIOD_US), "cpu.cfs_quota_us": str(quota)}
        else:
            raise SystemExit("cpu_quota: no cgroup hierarchy with the cpu controller found")
        self.path = self.root / name
        self.path.mkdir()
        for file, value in self.limits.items():
            (self.path / file).write_text(value)
        self.origins: dict[int, Path] = {}  # the group each moved process came from

    def add(self, pid: int) -> None:
        """Move a process (and so the processes it starts afterwards) into the group."""
        self.origins[pid] = self._group_of(pid)
        (self.path / "cgroup.procs").write_text(str(pid))

    def _group_of(self, pid: int) -> Path:
        v2 = self.root == Path("/sys/fs/cgroup")
        for line in _read(Path(f"/proc/{pid}/cgroup")).splitlines():
            _, controllers, group = line.split(":", 2)
            if (v2 and controllers == "") or (not v2 and "cpu" in controllers.split(",")):
                return self.root / group.lstrip("/")
        return self.root

    def close(self) -> None:
        """Every process still in the group back where it came from (one started inside it: to
        the group of the process that started it, else the root), then the group removed."""
        for _ in range(3):  # a server may fork a process while it is being moved
            pids = [int(pid) for pid in _read(self.path / "cgroup.procs").split()]
            if not pids:
                break
            for pid in pids:
                try:
                    origin = self.origins.get(pid) or self.origins.get(_parent(pid), self.root)
                    (origin / "cgroup.procs").write_text(str(pid))
                except (ProcessLookupError, FileNotFoundError):
                    pass  # ended meanwhile
        self.path.rmdir()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _parent(pid: int) -> int:
    stat = _read(Path(f"/proc/{pid}/stat"))
    return int(stat.rsplit(")", 1)[1].split()[1]) if stat else 0


def server_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _read(entry / "comm").strip() in SERVERS:
            pids.append(int(entry.name))
    return pids


def main() -> int:
    parser, cores, command = wrapper_command_line(
        __doc__ or "", "cores", "CPU quota in cores for all of them, e.g. 0.8"
    )
    if cores <= 0:
        parser.error("give a positive quota")
    group = QuotaGroup(cores)
    try:
        servers = server_pids()
        for pid in servers:
            try:
                group.add(pid)
            except ProcessLookupError:
                pass
        say(f"{cores} cores for {len(servers)} server processes and {command[0]}")
        child = subprocess.Popen(command, preexec_fn=lambda: group.add(os.getpid()))
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            return child.wait()
    finally:
        group.close()
        say("servers back at full speed")


if __name__ == "__main__":
    sys.exit(main())
