"""Operator commands.

    python -m immunization_bridge.cli import FILE... [--operator NAME]
    python -m immunization_bridge.cli overdue-check [--on YYYY-MM-DD]

Configuration comes from the same IMMUNIZATION_* environment as the service. `import` takes
the files in the order given (file order is the order corrections and deletions apply), each
in its own transaction; a file imported before is skipped. It prints one JSON report a file on
stdout, progress on stderr, and exits 0 when every line was kept, 2 when some were rejected,
1 on failure. `overdue-check` is the daily (or monthly) run: it stores the overdue doses and
emits immunization.dose.overdue for each newly overdue one.
"""

import argparse
import asyncio
import getpass
import json
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path

from immunization_bridge.config import Settings
from immunization_bridge.records.service import import_file
from immunization_bridge.status.service import run_overdue_check
from mch_common.dates import today_tokyo
from mch_common.db import create_engine, session_factory, unit_of_work


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m immunization_bridge.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    importing = commands.add_parser("import", help="import the register's batch files, in order")
    importing.add_argument("files", nargs="+", type=Path)
    importing.add_argument("--operator", default=None, help="recorded as the actor")
    checking = commands.add_parser("overdue-check", help="store and announce overdue doses")
    checking.add_argument("--on", type=date.fromisoformat, default=None)
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "import":
        operator = args.operator or f"cli:{getpass.getuser()}"
        return asyncio.run(import_files(settings, args.files, operator=operator))
    return asyncio.run(overdue_check(settings, on=args.on or today_tokyo()))


if __name__ == "__main__":
    sys.exit(main())
