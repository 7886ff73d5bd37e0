"""`python -m intermediate_server.cli <job>`: the platform's scheduled jobs, each recorded as a
batch run (GET /admin/system/batches).

  expire-held            refuse held (自動応答不可) items whose deadline passed (hourly)
  retention              delete inquiries, decisions and honoured permits past retention (daily)
  retire-records         retire provision records past retention, from the oldest, leaving a
                         checkpoint the verifier starts from (daily; a line per batch)
  sync-permission-list   copy the hub's permission list (daily, and after the hub changes it)
  add-tenant CODE NAME   put a municipality on the platform

Each prints its run as one JSON line (last); exit 0 done, 1 failure (retire-records: also
when the chain does not verify, so nothing was retired), 2 usage."""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from national_hub.hub import NationalHub
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from intermediate_server.admin import service
from intermediate_server.admin.models import BatchRun
from intermediate_server.config import Settings
from mch_common.audit_anchor import AuditAnchors
from mch_common.audit_retention import Retired
from mch_common.cli import exit_on_refusal
from mch_common.db import create_engine, session_factory
from mch_common.events.bus import EventBus
from mch_common.lgcode import is_valid_lg_code

RETIRE_ACTOR = "batch:intermediate_server.retire-records"
_ADD_TENANT = text(
    "INSERT INTO tenant (code, name) VALUES (:code, :name) "
    "ON CONFLICT (code) DO UPDATE SET name = excluded.name"
)


async def run(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    engine = create_engine(settings.database_url, pool_size=2)
    sessions = session_factory(engine)
    try:
        if args.command == "add-tenant":
            async with sessions() as session, session.begin():
                await session.execute(_ADD_TENANT, {"code": args.code, "name": args.name})
            return {"tenant": args.code}
        if args.command == "expire-held":
            batch = await service.expire_held(sessions)
        elif args.command == "retention":
            batch = await service.delete_past_retention(
                sessions, retention_years=settings.record_retention_years
            )
        elif args.command == "retire-records":
            batch = await _retire_records(sessions, settings, batch_size=args.batch_size)
        else:
            hub = NationalHub(sessions=sessions, keys=settings.hub_keys)
            batch = await service.sync_permission_list(sessions, hub)
        return {"job": batch.job, **batch.counts}
    finally:
        await engine.dispose()


async def _retire_records(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, *, batch_size: int
) -> BatchRun:
    # As the service's own NATS user: the new chain start is anchored where its heads are.
    bus = await EventBus.connect(
        settings.nats_url,
        namespace=settings.event_namespace,
        name="retire-records",
        user=settings.nats_user,
        password=settings.nats_password,
    )

    def progress(batch: Retired, total: int) -> None:
        sys.stdout.write(
            f"retired {total} records (through chain position {batch.through_pos}, "
            f"{batch.through_at.date().isoformat()})\n"
        )
        sys.stdout.flush()

    try:
        return await service.retire_records(
            sessions,
            AuditAnchors(bus, settings.service_name),
            retention_years=settings.record_retention_years,
            actor=RETIRE_ACTOR,
            batch_size=batch_size,
            progress=progress,
        )
    finally:
        await bus.close(drain=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m intermediate_server.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("expire-held")
    commands.add_parser("retention")
    commands.add_parser("sync-permission-list")
    retire = commands.add_parser("retire-records")
    retire.add_argument("--batch-size", type=int, default=5000, help="records per transaction")
    tenant = commands.add_parser("add-tenant")
    tenant.add_argument("code", help="municipality code with its check digit (401005)")
    tenant.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "add-tenant" and not is_valid_lg_code(args.code):
        sys.stderr.write("add-tenant: not a municipality code with a valid check digit\n")
        return 2
    with exit_on_refusal(f"python -m intermediate_server.cli {args.command}", code=1):
        result = asyncio.run(run(args, Settings()))
    sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
    return 1 if result.get("refused") else 0


if __name__ == "__main__":
    raise SystemExit(main())
