"""A user id's status: suspend, reinstate, revoke (final), delete (soft), unlock."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from identity.context import IdentityContext
from identity.users.accounts import TARGET, settled, user_for_change
from identity.users.live_tokens import cut_live_tokens
from identity.users.models import User, UserStatus
from mch_common.auth.principal import Principal
from mch_common.errors import Conflict, InvalidInput
from mch_common.work import UnitOfWork


async def set_status(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    actor: Principal,
    user_id: uuid.UUID,
    action: str,
    reason: str | None,
) -> User:
    """suspend, reinstate, revoke (irreversible) or delete (soft; the row stays for the audit)."""
    user = await user_for_change(session, user_id)
    before = user.status
    at: float | None = None
    if action == "suspend":
        if user.status != UserStatus.ACTIVE:
            raise Conflict(f"only an active user can be suspended; this one is {user.status}")
        user.status = UserStatus.SUSPENDED.value
        at = await cut_live_tokens(session, ctx, user, "suspended")
    elif action == "reinstate":
        if user.status != UserStatus.SUSPENDED:
            raise Conflict(f"only a suspended user can be reinstated; this one is {user.status}")
        user.status = UserStatus.ACTIVE.value
    elif action == "revoke":
        if user.status == UserStatus.REVOKED:
            raise Conflict("the user id is already revoked")
        user.status = UserStatus.REVOKED.value
        at = await cut_live_tokens(session, ctx, user, "revoked")
    elif action == "delete":
        user.deleted_at = datetime.now(UTC)
        if user.status != UserStatus.REVOKED:
            user.status = UserStatus.REVOKED.value
        at = await cut_live_tokens(session, ctx, user, "deleted")
    else:  # pragma: no cover - routers only pass the four actions
        raise InvalidInput(f"unknown action {action}")
    UnitOfWork.of(session).record_access(
        actor,
        action=f"identity.user.{action}",
        target_type=TARGET,
        target_id=str(user.id),
        purpose=reason,
        detail={"login_id": user.login_id, "before": before, "after": user.status, "at": at},
    )
    return await settled(session, user)


async def unlock(session: AsyncSession, *, actor: Principal, user_id: uuid.UUID) -> User:
    user = await user_for_change(session, user_id)
    user.failed_attempts = 0
    user.locked_until = None
    UnitOfWork.of(session).record_access(
        actor, action="identity.user.unlock", target_type=TARGET, target_id=str(user.id)
    )
    return await settled(session, user)
