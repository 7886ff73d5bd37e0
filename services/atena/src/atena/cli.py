"""Operator commands.

    python -m atena.cli load FILE [--encoding cp932] [--errors FILE.errors.csv] [--no-events]
    python -m atena.cli export [--output FILE|-] [--encoding cp932] [--ward 401064]
    python -m atena.cli rotate-my-numbers [--batch-size 500]

Configuration comes from the same ATENA_* environment as the service. `load` exits 0 when
every line loaded, 2 when some lines were rejected (see the error report), 1 on failure.
Any command exits 3, with one line on stderr, when the database or NATS refuses.
`rotate-my-numbers` rewrites the stored My Numbers under the current keys after a key change
(the procedure is in atena's README); killed, it is simply run again.
"""

import argparse
import asyncio
import csv
import getpass
import json
import sys
from datetime import datetime
from typing import Any

import asyncpg

from atena.bulk.export import export_csv
from atena.bulk.loader import Loader
from atena.bulk.report import LoadReport
from atena.config import Settings
from atena.mynumber.rotation import RotationProgress, rotate_my_numbers
from mch_common.cli import exit_on_refusal
from mch_common.dates import today_tokyo
from mch_common.db import asyncpg_dsn, create_engine, session_factory, unit_of_work
from mch_common.lines import LineError
from mch_common.work import UnitOfWork


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


async def _audit(settings: Settings, *, actor: str, action: str, detail: dict[str, Any]) -> None:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            UnitOfWork.of(session).record(
                actor=actor,
                action=action,
                target_type="batch",
                detail=detail,
                purpose="resident registry batch",
            )
    finally:
        await engine.dispose()


async def load(
    settings: Settings,
    path: str,
    *,
    encoding: str | None = None,
    errors_path: str | None = None,
    chunk_size: int = 20_000,
    connections: int = 2,
    emit_events: bool = True,
    operator: str | None = None,
    quiet: bool = False,
) -> LoadReport:
    actor = operator or f"cli:{getpass.getuser()}"
    errors_file = open(errors_path or path + ".errors.csv", "w", newline="", encoding="utf-8")  # noqa: ASYNC230 - a local report file
    with errors_file:
        writer = csv.writer(errors_file)
        writer.writerow(("line", "field", "reason"))

        def on_error(error: LineError) -> None:
            writer.writerow((error.line, error.field, error.reason))

        def progress(report: LoadReport) -> None:
            if not quiet:
                loaded = report.inserted + report.updated + report.unchanged
                # Parsing runs a chunk ahead of the database: lines read > lines loaded.
                _err(
                    f"atena load: {report.lines} lines read, {loaded} loaded ({report.inserted}"
                    f" new, {report.updated} changed), {report.rejected} rejected, "
                    f"{report.seconds:.1f} s"
                )

        dsn = asyncpg_dsn(settings.database_url)
        conns = [await asyncpg.connect(dsn) for _ in range(max(1, connections))]
        try:
            loader = Loader(
                conns,
                tenant=settings.tenant,
                vault=settings.vault,
                actor=actor,
                today=today_tokyo(),
                emit_events=emit_events,
                on_error=on_error,
            )
            report = await loader.load(
                path, encoding=encoding, chunk_size=chunk_size, progress=progress
            )
        finally:
            for conn in conns:
                await conn.close()
    await _audit(
        settings,
        actor=actor,
        action="person.bulk_load",
        detail={"file": path.rsplit("/", 1)[-1], **report.summary()},
    )
    return report


async def export(
    settings: Settings,
    output: str,
    *,
    encoding: str = "utf-8",
    ward_code: str | None = None,
    residence_status: str | None = None,
    changed_since: datetime | None = None,
    operator: str | None = None,
) -> int:
    actor = operator or f"cli:{getpass.getuser()}"
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        if output == "-":
            count = await export_csv(
                conn,
                sys.stdout.buffer,
                encoding=encoding,
                ward_code=ward_code,
                residence_status=residence_status,
                changed_since=changed_since,
            )
            sys.stdout.flush()
        else:
            with open(output, "wb") as out:  # noqa: ASYNC230 - a local export file
                count = await export_csv(
                    conn,
                    out,
                    encoding=encoding,
                    ward_code=ward_code,
                    residence_status=residence_status,
                    changed_since=changed_since,
                )
    finally:
        await conn.close()
    await _audit(
        settings,
        actor=actor,
        action="person.batch_export",
        detail={
            "count": count,
            "ward_code": ward_code,
            "residence_status": residence_status,
            "changed_since": changed_since.isoformat() if changed_since else None,
        },
    )
    return count


async def rotate(
    settings: Settings,
    *,
    batch_size: int = 500,
    operator: str | None = None,
    quiet: bool = False,
) -> RotationProgress:
    actor = operator or f"cli:{getpass.getuser()}"
    vault = settings.vault
    reported_at = 0.0

    def progress(state: RotationProgress) -> None:
        nonlocal reported_at
        # At most a line a second: a million rows are two thousand batches.
        if quiet or state.seconds - reported_at < 1.0:
            return
        reported_at = state.seconds
        _err(_rotation_line(state))

    engine = create_engine(settings.database_url, pool_size=1)
    try:
        result = await rotate_my_numbers(
            session_factory(engine), vault, batch_size=batch_size, progress=progress
        )
    finally:
        await engine.dispose()
    if not quiet:
        _err(_rotation_line(result))
    await _audit(
        settings,
        actor=actor,
        action="person.my_number_rotation",
        detail={
            "rewritten": result.done,
            "key_id": vault.current_key_id,
            "index_key_id": vault.index_key_id,
        },
    )
    return result


def _rotation_line(state: RotationProgress) -> str:
    share = 100.0 * state.done / state.total if state.total else 100.0
    return (
        f"atena rotate-my-numbers: {state.done}/{state.total} rows ({share:.1f} %), "
        f"{state.rows_per_second:.0f} rows/s, {state.seconds:.1f} s"
    )


async def obtain_codes(settings: Settings, *, batch_size: int, quiet: bool) -> dict[str, int]:
    from atena.network.client import ims_client
    from atena.network.service import obtain_network_codes

    def progress(done: int) -> None:
        if not quiet:
            _err(f"atena obtain-network-codes: {done} persons sent")

    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with ims_client(settings) as ims:
            run = await obtain_network_codes(
                session_factory(engine),
                settings.vault,
                ims,
                batch_size=batch_size,
                progress=progress,
            )
    finally:
        await engine.dispose()
    return {"obtained": run.obtained, "failed": run.failed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m atena.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_load = sub.add_parser("load", help="load a resident-registry extract (CSV)")
    p_load.add_argument("file")
    p_load.add_argument("--encoding", help="utf-8 or cp932 (Shift_JIS); default: detected")
    p_load.add_argument("--errors", help="error report path; default FILE.errors.csv")
    p_load.add_argument("--chunk-size", type=int, default=20_000)
    p_load.add_argument(
        "--connections",
        type=int,
        default=2,
        help="chunks loaded at once (default 2: one per core of a small server)",
    )
    p_load.add_argument(
        "--no-events",
        action="store_true",
        help="no atena.person.* events (a first load; consumers take an export)",
    )
    p_load.add_argument("--operator", help="who runs the load (access log)")
    p_load.add_argument("--quiet", action="store_true")
    p_export = sub.add_parser("export", help="export current records (CSV) for business systems")
    p_export.add_argument("--output", default="-")
    p_export.add_argument("--encoding", default="utf-8")
    p_export.add_argument("--ward")
    p_export.add_argument("--status", choices=["resident", "non_resident", "moved_out", "deceased"])
    p_export.add_argument("--changed-since", type=datetime.fromisoformat)
    p_export.add_argument("--operator")
    p_rotate = sub.add_parser(
        "rotate-my-numbers",
        help="rewrite stored My Numbers under the current encryption and blind index keys",
    )
    p_rotate.add_argument("--batch-size", type=int, default=500, help="rows per transaction")
    p_rotate.add_argument("--operator", help="who runs the rotation (access log)")
    p_rotate.add_argument("--quiet", action="store_true")
    p_codes = sub.add_parser(
        "obtain-network-codes",
        help="obtain the 符号 of every person with a My Number who has none (符号取得, batch)",
    )
    p_codes.add_argument("--batch-size", type=int, default=1000, help="persons per request")
    p_codes.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings()
    with exit_on_refusal(f"python -m atena.cli {args.command}"):
        return _run(args, settings)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "obtain-network-codes":
        codes = asyncio.run(obtain_codes(settings, batch_size=args.batch_size, quiet=args.quiet))
        _out(json.dumps(codes))
        return 1 if codes["failed"] else 0

    if args.command == "load":
        try:
            report = asyncio.run(
                load(
                    settings,
                    args.file,
                    encoding=args.encoding,
                    errors_path=args.errors,
                    chunk_size=args.chunk_size,
                    connections=args.connections,
                    emit_events=not args.no_events,
                    operator=args.operator,
                    quiet=args.quiet,
                )
            )
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            _err(f"atena load failed: {type(exc).__name__}: {exc}")
            return 1
        _out(json.dumps(report.summary(), ensure_ascii=False))
        return 2 if report.rejected else 0
    if args.command == "rotate-my-numbers":
        result = asyncio.run(
            rotate(settings, batch_size=args.batch_size, operator=args.operator, quiet=args.quiet)
        )
        _out(json.dumps({"rewritten": result.done, "seconds": round(result.seconds, 1)}))
        return 0
    count = asyncio.run(
        export(
            settings,
            args.output,
            encoding=args.encoding,
            ward_code=args.ward,
            residence_status=args.status,
            changed_since=args.changed_since,
            operator=args.operator,
        )
    )
    _err(f"atena export: {count} people")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
