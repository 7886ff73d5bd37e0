"""Identity's periodic work, in every identity process (each step is safe to run concurrently):
apply personnel transfers whose date has come, rotate the signing key when it is due, reload
the key ring (another process may have rotated), purge expired revocation rows."""

import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.context import IdentityContext
from identity.keys.service import ensure_active_key, token_overlap
from identity.tokens.revocation import purge_expired
from identity.users.transfers import apply_due_transfers
from mch_common.db import unit_of_work
from mch_common.jobs import PeriodicJob

log = logging.getLogger("identity.maintenance")


async def ensure_keys(sessions: async_sessionmaker[AsyncSession], ctx: IdentityContext) -> None:
    async with unit_of_work(sessions) as session:
        await ensure_active_key(
            session,
            box=ctx.box,
            max_age=timedelta(seconds=ctx.settings.signing_key_max_age_seconds),
            overlap=token_overlap(ctx.settings),
        )
    await ctx.keyring.reload(sessions)


async def run_once(sessions: async_sessionmaker[AsyncSession], ctx: IdentityContext) -> int:
    async with unit_of_work(sessions) as session:
        applied = await apply_due_transfers(session, ctx)
        await purge_expired(session)
    await ensure_keys(sessions, ctx)
    if applied:
        log.info("applied %d personnel transfer(s) that took effect", applied)
    return applied


def job(sessions: async_sessionmaker[AsyncSession], ctx: IdentityContext) -> PeriodicJob:
    """`run_once` every `maintenance_interval_seconds`, the first an interval after start
    (startup has just ensured the keys)."""
    return PeriodicJob(
        "identity.maintenance",
        lambda: run_once(sessions, ctx),
        every=ctx.settings.maintenance_interval_seconds,
        wait_first=True,
    )
