"""Operator commands.

    python -m immunization_bridge.cli import FILE... [--operator NAME]
    python -m immunization_bridge.cli overdue-check [--on YYYY-MM-DD]
    python -m immunization_bridge.cli watch-inbox INBOX [--interval S] [--once] [--heartbeat F]
    python -m immunization_bridge.cli register-file build --dir OUTBOX [--operator NAME]
    python -m immunization_bridge.cli register-file list [--limit N]
    python -m immunization_bridge.cli register-file deliver RUN_ID --dir OUTBOX

Configuration comes from the same IMMUNIZATION_* environment as the service. `import` takes
the files in the order given (file order is the order corrections and deletions apply), each
in its own transaction; a file imported before is skipped. It prints one JSON report a file on
stdout, progress on stderr, and exits 0 when every line was kept, 2 when some were rejected,
1 on failure. `overdue-check` is the daily (or monthly) run: it stores the overdue doses and
emits immunization.dose.overdue for each newly overdue one.

`watch-inbox` is the long-running importer of the inbox folder (records/inbox.py): every
`--interval` seconds it imports the files dropped in INBOX, in name order, once each, and
moves each to INBOX/done or INBOX/failed with its report; a report line a file on stdout. It
stops on SIGTERM or Ctrl-C after the file at hand; `--once` sweeps once and exits (a cron job).
A sweep that fails (the database is down) is logged and retried; the files wait. With
`--heartbeat FILE` it touches FILE after each sweep and at each progress line of a long import,
for the liveness probe (`python -m mch_common.heartbeat FILE --within S`, deploy/k8s).

`register-file build` writes the next file for the register (every change not in a file yet)
into OUTBOX and prints its run record; `deliver` writes a run's file again, byte for byte (a
lost file). A file appears in OUTBOX whole (written aside, then renamed). A build that
committed but whose file was not written shows `deliveries: 0` in `list`: deliver it.
"""

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import signal
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from immunization_bridge.config import Settings
from immunization_bridge.records.inbox import sweep
from immunization_bridge.records.service import import_file
from immunization_bridge.register_files import service as register_files
from immunization_bridge.register_files.schemas import RegisterFileRunOut
from immunization_bridge.status.service import run_overdue_check
from mch_common.cli import exit_on_refusal
from mch_common.dates import today_tokyo
from mch_common.db import create_engine, session_factory, unit_of_work
from mch_common.errors import NotFound
from mch_common.heartbeat import beat


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


async def import_files(settings: Settings, paths: list[Path], *, operator: str) -> int:
    engine = create_engine(settings.database_url, pool_size=1)
    sessions = session_factory(engine)
    exit_code = 0
    try:
        for path in paths:
            data = await asyncio.to_thread(path.read_bytes)
            async with unit_of_work(sessions) as session:
                report = await import_file(
                    session,
                    data=data,
                    filename=path.name,
                    actor=operator,
                    today=today_tokyo(),
                    on_progress=_err,
                )
            _out(json.dumps(asdict(report), ensure_ascii=False))
            if report.rejected:
                exit_code = 2
    finally:
        await engine.dispose()
    return exit_code


async def overdue_check(settings: Settings, *, on: date) -> int:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            report = await run_overdue_check(
                session, on=on, tenant=settings.tenant, on_progress=_err
            )
    finally:
        await engine.dispose()
    _out(report.model_dump_json())
    return 0


async def watch_inbox(
    settings: Settings,
    inbox: Path,
    *,
    operator: str,
    interval: float,
    once: bool,
    settle_seconds: float = 2.0,
    stop: asyncio.Event | None = None,
    heartbeat: Path | None = None,
) -> int:
    stop = stop or asyncio.Event()

    def progress(message: str) -> None:
        beat(heartbeat)  # a long import is alive while it reports progress
        _err(message)

    loop = asyncio.get_running_loop()
    signals = () if once else (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    engine = create_engine(settings.database_url, pool_size=1)
    sessions = session_factory(engine)
    exit_code = 0
    try:
        while True:
            try:
                results = await sweep(
                    sessions,
                    inbox,
                    actor=operator,
                    today=today_tokyo,
                    settle_seconds=settle_seconds,
                    on_progress=progress,
                )
            except (OSError, SQLAlchemyError) as exc:
                # The files stay in the inbox; the next sweep takes them.
                _err(f"sweep failed ({type(exc).__name__}); retrying in {interval} s")
                exit_code = 1
                results = []
            for result in results:
                _out(
                    json.dumps(
                        {"outcome": result.outcome, **asdict(result.report)}, ensure_ascii=False
                    )
                )
                if result.outcome == "failed":
                    exit_code = max(exit_code, 2)
            beat(heartbeat)
            if once or stop.is_set():
                return exit_code
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return 0
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await engine.dispose()


def write_whole(directory: Path, filename: str, content: bytes) -> Path:
    """Written aside and renamed, so whoever picks files up never sees half of one."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / filename
    partial = directory / f".{filename}.part"
    partial.write_bytes(content)
    os.replace(partial, target)
    return target


async def register_file_build(settings: Settings, *, directory: Path, operator: str) -> int:
    engine = create_engine(settings.database_url, pool_size=1)
    sessions = session_factory(engine)
    actor = register_files.Actor(operator=operator)
    try:
        async with unit_of_work(sessions) as session:
            run = await register_files.build(
                session, actor=actor, on=today_tokyo(), on_progress=_err
            )
        _out(RegisterFileRunOut.model_validate(run).model_dump_json())
        return await _deliver(sessions, actor=actor, run_id=run.id, directory=directory)
    finally:
        await engine.dispose()


async def register_file_deliver(
    settings: Settings, *, run_id: int, directory: Path, operator: str
) -> int:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        actor = register_files.Actor(operator=operator)
        return await _deliver(
            session_factory(engine), actor=actor, run_id=run_id, directory=directory
        )
    except NotFound as exc:
        _err(str(exc))
        return 1
    finally:
        await engine.dispose()


async def _deliver(
    sessions: async_sessionmaker[AsyncSession],
    *,
    actor: register_files.Actor,
    run_id: int,
    directory: Path,
) -> int:
    async with unit_of_work(sessions) as session:
        run = await register_files.deliver(session, actor=actor, run_id=run_id)
        # Written before the commit counts it: a failed write leaves the count unchanged.
        path = await asyncio.to_thread(write_whole, directory, run.filename, run.content)
    _err(f"{path}: written ({run.size_bytes} bytes, sha256 {run.sha256})")
    return 0


async def register_file_list(settings: Settings, *, limit: int) -> int:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            runs = await register_files.runs(session, before=None, limit=limit)
            lines = [RegisterFileRunOut.model_validate(r).model_dump_json() for r in runs]
    finally:
        await engine.dispose()
    for line in lines:
        _out(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m immunization_bridge.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    importing = commands.add_parser("import", help="import the register's batch files, in order")
    importing.add_argument("files", nargs="+", type=Path)
    importing.add_argument("--operator", default=None, help="recorded as the actor")
    checking = commands.add_parser("overdue-check", help="store and announce overdue doses")
    checking.add_argument("--on", type=date.fromisoformat, default=None)
    watching = commands.add_parser("watch-inbox", help="import files dropped in a folder")
    watching.add_argument("inbox", type=Path)
    watching.add_argument("--interval", type=float, default=10.0, help="seconds between sweeps")
    watching.add_argument("--once", action="store_true", help="one sweep, then exit")
    watching.add_argument("--operator", default=None, help="recorded as the actor")
    watching.add_argument(
        "--heartbeat", type=Path, default=None, help="touched each sweep (liveness probe)"
    )
    files_out = commands.add_parser("register-file", help="the batch files for the register")
    actions = files_out.add_subparsers(dest="action", required=True)
    building = actions.add_parser("build", help="the next file, of every change not yet sent")
    building.add_argument("--dir", type=Path, required=True, help="where the file is written")
    building.add_argument("--operator", default=None, help="recorded as the actor")
    delivering = actions.add_parser("deliver", help="write a run's file again, byte for byte")
    delivering.add_argument("run_id", type=int)
    delivering.add_argument("--dir", type=Path, required=True)
    delivering.add_argument("--operator", default=None)
    listing = actions.add_parser("list", help="the run records, newest first")
    listing.add_argument("--limit", type=int, default=20)
    args = parser.parse_args(argv)
    command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
    with exit_on_refusal(f"python -m immunization_bridge.cli {command}", code=1):
        return _run(args, Settings())


def _run(args: argparse.Namespace, settings: Settings) -> int:
    operator = getattr(args, "operator", None) or f"cli:{getpass.getuser()}"
    if args.command == "import":
        return asyncio.run(import_files(settings, args.files, operator=operator))
    if args.command == "watch-inbox":
        args.inbox.mkdir(parents=True, exist_ok=True)  # a fresh exchange volume
        _err(f"watching {args.inbox.resolve()}")
        return asyncio.run(
            watch_inbox(
                settings,
                args.inbox,
                operator=operator,
                interval=args.interval,
                once=args.once,
                heartbeat=args.heartbeat,
            )
        )
    if args.command == "overdue-check":
        return asyncio.run(overdue_check(settings, on=args.on or today_tokyo()))
    if args.action == "build":
        return asyncio.run(register_file_build(settings, directory=args.dir, operator=operator))
    if args.action == "deliver":
        return asyncio.run(
            register_file_deliver(
                settings, run_id=args.run_id, directory=args.dir, operator=operator
            )
        )
    return asyncio.run(register_file_list(settings, limit=args.limit))


if __name__ == "__main__":
    sys.exit(main())
