"""`python -m intermediate_server.cli <job>`: the platform's scheduled jobs, each recorded as a
batch run (GET /admin/system/batches).

  expire-held            refuse held (自動応答不可) items whose deadline passed (hourly)
  retention              delete inquiries, decisions and honoured permits past retention (daily)
  sync-permission-list   copy the hub's permission list (daily, and after the hub changes it)
  add-tenant CODE NAME   put a municipality on the platform

Each prints its run as one JSON line; exit 0 done, 1 failure, 2 usage."""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from national_hub.hub import NationalHub
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from intermediate_server.admin import service
from intermediate_server.config import Settings
from mch_common.db import create_engine, session_factory
from mch_common.lgcode import is_valid_lg_code

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
        else:
            hub = NationalHub(sessions=sessions, keys=settings.hub_keys)
            batch = await service.sync_permission_list(sessions, hub)
        return {"job": batch.job, **batch.counts}
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m intermediate_server.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("expire-held")
    commands.add_parser("retention")
    commands.add_parser("sync-permission-list")
    tenant = commands.add_parser("add-tenant")
    tenant.add_argument("code", help="municipality code with its check digit (401005)")
    tenant.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "add-tenant" and not is_valid_lg_code(args.code):
        sys.stderr.write("add-tenant: not a municipality code with a valid check digit\n")
        return 2
    try:
        result = asyncio.run(run(args, Settings()))
    except (OSError, SQLAlchemyError) as exc:  # one line says why, without values
        sys.stderr.write(f"intermediate_server {args.command} failed: {type(exc).__name__}\n")
        return 1
    sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
