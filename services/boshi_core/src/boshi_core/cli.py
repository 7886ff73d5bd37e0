"""Batch entry points for cron or a Kubernetes CronJob.

    python -m boshi_core.cli extract --programme 4m --month 2026-12
    python -m boshi_core.cli extract --all --month 2026-12
    python -m boshi_core.cli remind --month 2026-12 --out /var/spool/boshi/reminders
    python -m boshi_core.cli import-people atena-export.csv [--encoding cp932]
    python -m boshi_core.cli retention-due [--as-of 2026-12-01]   (monthly: the disposal list)
    python -m boshi_core.cli pull-online

`pull-online` opens a pregnancy for each online notification e_application accepted (its
hand-over export, with this service's client token), and confirms each; run it again at any
time (idempotent on the receipt number).

The database URL comes from the service's settings (BOSHI_DATABASE_URL) or --database-url.
`--month current` is this month in Asia/Tokyo (for a CronJob on the 1st). Progress goes to
stderr, the summary (one JSON object) to stdout.
Exit codes: 0 done (also: already done), 2 bad arguments (import-people: also some lines
rejected, each named on stderr), 3 database unreachable or not migrated, 4 run failed half way
(re-run the same command to resume), 5 another run of the month is in progress, 1 anything
else.
"""

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any, get_args

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from boshi_core.checkups import service as checkups
from boshi_core.checkups.schemas import ProgrammeCode
from boshi_core.checkups.windows import Period
from boshi_core.config import Settings
from boshi_core.online.client import EXPORT_SCOPE, EappClient
from boshi_core.online.service import pull_online_notifications
from boshi_core.people.importer import ImportReport, import_people
from boshi_core.reminders.service import RunInProgress, run_reminders
from boshi_core.retention import service as retention
from boshi_core.retention.schemas import RetainedType
from mch_common.auth.client import service_http
from mch_common.auth.principal import Principal
from mch_common.cli import EXIT_UNREACHABLE, REFUSALS, describe_refusal
from mch_common.db import create_engine, session_factory, unit_of_work
from mch_common.errors import DomainError, InvalidInput
from mch_common.lines import LineError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_RUN_FAILED, EXIT_BUSY = 0, 1, 2, 4, 5
EXIT_DATABASE = EXIT_UNREACHABLE
PROGRAMMES = get_args(ProgrammeCode)


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _month(value: str) -> Period:
    """YYYY-MM, or `current` (the month in Asia/Tokyo now: what a CronJob on the 1st wants)."""
    if value == "current":
        return Period.current()
    try:
        return Period.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m boshi_core.cli", description="boshi_core batch jobs (infant checkups)"
    )
    parser.add_argument("--database-url", help="overrides BOSHI_DATABASE_URL")
    commands = parser.add_subparsers(dest="command", required=True)
    extract = commands.add_parser("extract", help="extract a month's checkup targets")
    which = extract.add_mutually_exclusive_group(required=True)
    which.add_argument("--programme", choices=PROGRAMMES)
    which.add_argument("--all", action="store_true", help="every programme in force")
    extract.add_argument("--month", type=_month, required=True, help="YYYY-MM or current")
    remind = commands.add_parser("remind", help="run (or resume) a month's reminder letters")
    remind.add_argument("--month", type=_month, required=True, help="YYYY-MM or current")
    remind.add_argument("--out", type=Path, required=True, help="output directory")
    remind.add_argument(
        "--letters-per-file", type=int, default=100, help="households per print file (PDF)"
    )
    people = commands.add_parser(
        "import-people", help="fill the people read model from atena's batch export (CSV)"
    )
    people.add_argument("file", type=Path, help="the output of python -m atena.cli export")
    people.add_argument("--encoding", default="utf-8-sig", help="utf-8 (default) or cp932")
    people.add_argument("--batch-size", type=int, default=5_000)
    retention = commands.add_parser(
        "retention-due",
        help="list the records past their retention period, every type (monthly; III-7)",
    )
    retention.add_argument("--as-of", type=date.fromisoformat, default=None, help="YYYY-MM-DD")
    commands.add_parser(
        "pull-online", help="open the online pregnancy notifications e_application accepted"
    )
    return parser


def database_url(explicit: str | None) -> str:
    return explicit or Settings().database_url


async def _check_schema(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        found = await session.execute(text("SELECT to_regclass('checkup_programmes')"))
        if found.scalar_one() is None:
            raise LookupError("the database is not migrated (run boshi-core-migrate)")


async def _extract(sessions: async_sessionmaker[AsyncSession], args: argparse.Namespace) -> Any:
    programmes = list(PROGRAMMES) if args.all else [args.programme]
    results = []
    for code in programmes:
        started = time.perf_counter()
        async with unit_of_work(sessions) as session:
            out = await checkups.extract(session, programme=code, period=args.month)
        took = time.perf_counter() - started
        _say(
            f"extract {code} {args.month}: {out.invited} newly invited "
            f"({out.invited_total} this month), {out.non_attendees} non-attendees, {took:.2f}s",
        )
        results.append(asdict(out) | {"seconds": round(took, 3)})
    return {"command": "extract", "results": results}


async def _remind(sessions: async_sessionmaker[AsyncSession], args: argparse.Namespace) -> Any:
    if args.letters_per_file < 1:
        raise InvalidInput("--letters-per-file must be at least 1")
    summary = await run_reminders(
        sessions, period=args.month, out_dir=args.out, letters_per_file=args.letters_per_file
    )
    _say(
        f"remind {summary.month}: {summary.letters_sent} letters to {summary.households} "
        f"households for {summary.children} children ({summary.letters_this_attempt} in this "
        f"attempt{', resumed' if summary.resumed else ''}); CSV {summary.csv_path}",
    )
    return {"command": "remind"} | summary.as_dict()


async def _import_people(
    sessions: async_sessionmaker[AsyncSession], args: argparse.Namespace
) -> Any:
    if args.batch_size < 1:
        raise InvalidInput("--batch-size must be at least 1")
    try:
        stream = args.file.open(encoding=args.encoding, newline="")
    except LookupError:
        raise InvalidInput(f"unknown encoding {args.encoding}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {args.file}: {exc.strerror}") from None
    started = time.perf_counter()

    def rejected(error: LineError) -> None:
        _say(f"line {error.line}: {error.field}: {error.reason} (rejected)")

    def progress(report: ImportReport) -> None:
        _say(
            f"import-people: {report.lines} lines read, {report.applied} applied, "
            f"{report.kept_newer} kept (as new or newer), {report.rejected} rejected, "
            f"{time.perf_counter() - started:.1f}s",
        )

    with stream:
        try:
            report = await import_people(
                sessions, stream, batch_size=args.batch_size, on_error=rejected, progress=progress
            )
        except UnicodeDecodeError:
            raise InvalidInput(
                f"{args.file} is not {args.encoding} text (an export written with "
                "--encoding cp932 is read with --encoding cp932)"
            ) from None
        except ValueError as exc:
            raise InvalidInput(f"{args.file}: {exc}") from None
    return (
        {"command": "import-people"}
        | report.summary()
        | {"seconds": round(time.perf_counter() - started, 2)}
    )


# The scheduled job's identity in the access log (it shows who the list showed).
RETENTION_JOB = "job:boshi_core.retention-due"


async def _retention_due(
    sessions: async_sessionmaker[AsyncSession], args: argparse.Namespace
) -> Any:
    job = Principal(sub=RETENTION_JOB, tenant=Settings().tenant, scopes=frozenset())
    due: dict[str, list[dict[str, Any]]] = {}
    for record_type in get_args(RetainedType):
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            async with unit_of_work(sessions) as session:
                page = await retention.due(
                    session,
                    principal=job,
                    record_type=record_type,
                    as_of=args.as_of,
                    limit=500,
                    cursor=cursor,
                )
            items += [asdict(r) for r in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        _say(f"retention-due {record_type}: {len(items)} past their period")
        due[record_type] = items
    return {"command": "retention-due", "as_of": str(args.as_of or "today"), "due": due}


async def _pull_online(sessions: async_sessionmaker[AsyncSession], args: argparse.Namespace) -> Any:
    del args
    settings = Settings()
    async with service_http(
        settings,
        EXPORT_SCOPE,
        base_url=settings.e_application_url,
        timeout=settings.e_application_timeout_seconds,
    ) as http:
        report = await pull_online_notifications(
            sessions,
            EappClient(http),
            tenant=settings.tenant,
            client_id=settings.client_id,
            progress=lambda line: _say(f"pull-online: {line}"),
        )
    for receipt_no, reason in report.held.items():
        _say(f"pull-online: {receipt_no} held: {reason}")
    return {
        "command": "pull-online",
        "opened": len(report.opened),
        "already_open": len(report.already_open),
        "held": len(report.held),
    }


COMMANDS = {
    "extract": _extract,
    "remind": _remind,
    "import-people": _import_people,
    "retention-due": _retention_due,
    "pull-online": _pull_online,
}


async def run(args: argparse.Namespace) -> int:
    engine = create_engine(database_url(args.database_url), pool_size=2)
    sessions = session_factory(engine)
    try:
        try:
            await _check_schema(sessions)
        except LookupError as exc:
            _say(f"error: database not usable: {exc}")
            return EXIT_DATABASE
        except REFUSALS as exc:
            _say(f"error: database not usable: {describe_refusal(exc)}")
            return EXIT_DATABASE
        try:
            result = await COMMANDS[args.command](sessions, args)
        except RunInProgress as exc:
            _say(f"error: {exc.detail}")
            return EXIT_BUSY
        except DomainError as exc:
            _say(f"error: {exc.detail}")
            return EXIT_USAGE
        except REFUSALS as exc:
            _say(
                f"error: the run stopped: {describe_refusal(exc)}; "
                "re-run the same command to resume",
            )
            return EXIT_RUN_FAILED
        sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
        return EXIT_USAGE if result.get("rejected") else EXIT_OK
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
