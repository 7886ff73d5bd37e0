"""The operators' command, one implementation for every service: `python -m <svc>.audit verify`
checks the service's audit chain end to end and against its latest published anchor, printing
progress and the result; exit status 1 when the chain is broken, 3 (one line on stderr) when the
database or NATS refuses."""

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import NoReturn

from mch_common.audit import ChainVerification, verify_chain
from mch_common.audit_anchor import AuditAnchors
from mch_common.cli import exit_on_refusal
from mch_common.db import create_engine, session_factory
from mch_common.events.bus import EventBus
from mch_common.settings import ServiceSettings


def say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


async def verify(settings: ServiceSettings) -> ChainVerification:
    # As the service's own NATS user: a secured server (deploy/) refuses anyone else.
    bus = await EventBus.connect(
        settings.nats_url,
        namespace=settings.event_namespace,
        name="audit-verify",
        user=settings.nats_user,
        password=settings.nats_password,
    )
    try:
        anchor = await AuditAnchors(bus, settings.service_name).latest()
    finally:
        await bus.close(drain=False)
    if anchor is None:
        say("no anchor published yet: checking the chain on its own")
    else:
        say(f"latest anchor: chain position {anchor.chain_pos} at {anchor.at.isoformat()}")
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with session_factory(engine)() as session:
            return await verify_chain(
                session, anchor=anchor, progress=lambda n: say(f"checked {n} records")
            )
    finally:
        await engine.dispose()


def describe(result: ChainVerification) -> str:
    if result.ok:
        retired = (
            f" (records up to position {result.retired_through} retired past retention)"
            if result.retired_through
            else ""
        )
        return (
            f"chain intact: {result.checked} records checked, {result.unsealed} not sealed yet"
            f"{retired}"
        )
    where = (
        f"record seq {result.first_broken_seq} (chain position {result.first_broken_pos})"
        if result.first_broken_seq is not None
        else f"chain position {result.first_broken_pos}"
    )
    return f"chain BROKEN at {where}: {result.reason} ({result.checked} records intact before it)"


def main(settings: ServiceSettings, argv: Sequence[str] | None = None) -> NoReturn:
    prog = f"python -m {settings.service_name}.audit"
    parser = argparse.ArgumentParser(prog=prog)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("verify", help="check the audit chain and its latest anchor")
    parser.parse_args(argv)
    say(f"{settings.service_name}: verifying the audit chain")
    with exit_on_refusal(f"{prog} verify"):
        result = asyncio.run(verify(settings))
    say(describe(result))
    sys.exit(0 if result.ok else 1)
