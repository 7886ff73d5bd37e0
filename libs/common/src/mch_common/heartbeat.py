"""The liveness of a process that serves no HTTP (a worker: a folder watcher, a loop): it
touches a heartbeat file each time round its loop, and Kubernetes' exec livenessProbe runs

    python -m mch_common.heartbeat /tmp/heartbeat --within 600

which exits 0 when the file was touched within that many seconds, 1 otherwise (missing,
stale). A worker stuck in a call that never returns stops beating and is restarted. The check
imports nothing beyond the standard library, so the probe costs a bare interpreter start.
"""

import argparse
import sys
import time
from pathlib import Path


def beat(path: Path | None) -> None:
    """Marks the process alive now (nothing when no heartbeat file is configured)."""
    if path is None:
        return
    path.touch()  # sets the modification time to now, creating the file if need be


def alive(path: Path, *, within: float, now: float | None = None) -> bool:
    try:
        touched = path.stat().st_mtime
    except FileNotFoundError:
        return False
    return (time.time() if now is None else now) - touched <= within


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mch_common.heartbeat")
    parser.add_argument("path", type=Path)
    parser.add_argument("--within", type=float, required=True, help="seconds")
    args = parser.parse_args(argv)
    if alive(args.path, within=args.within):
        return 0
    sys.stderr.write(f"{args.path}: no heartbeat within {args.within:g} s\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
