"""Refusing every token a user holds now, here and in every service."""

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from identity.context import IdentityContext
from identity.events import UserVerb, emit_user_event
from identity.tokens import repository as tokens
from identity.users.models import User

ONE_TICK = timedelta(microseconds=1)


async def cut_live_tokens(
    session: AsyncSession, ctx: IdentityContext, user: User, verb: UserVerb
) -> float:
    """Revoke the user's refresh tokens and announce `identity.user.<verb>` with `at`: services
    refuse the user's tokens with `iat < at`. `at` is now, or just after the newest token the
    user was issued if the clock has not passed it (a coarse or lagging clock), so no token
    issued before survives, whatever the clock's resolution. The caller holds the user's row
    lock, as every token issue does: nothing is issued to the user meanwhile."""
    now = datetime.now(UTC)
    newest = await tokens.revoke_users_refresh_tokens(session, user_id=user.id, at=now)
    cut = now if newest is None or newest < now else newest + ONE_TICK
    user.tokens_valid_after = cut
    at = cut.timestamp()
    emit_user_event(session, tenant=ctx.settings.tenant, user_id=user.id, verb=verb, at=at)
    return at
