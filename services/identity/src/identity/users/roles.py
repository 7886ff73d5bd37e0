"""Changing a user's roles now (a transfer changes them from a date)."""

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from identity.context import IdentityContext
from identity.users import repository
from identity.users.accounts import TARGET, settled, user_for_change
from identity.users.live_tokens import cut_live_tokens
from identity.users.models import User, UserRole
from identity.users.validation import raise_if, role_errors
from mch_common.auth.principal import Principal
from mch_common.work import UnitOfWork


async def change_roles(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    actor: Principal,
    user_id: uuid.UUID,
    roles: Sequence[str],
) -> User:
    user = await user_for_change(session, user_id)
    catalog = await repository.roles_by_name(session)
    raise_if(role_errors(roles, user.ward, catalog), "roles")
    before = user.role_names
    user.roles = [UserRole(role=r) for r in sorted(set(roles))]
    await session.flush()
    at = await cut_live_tokens(session, ctx, user, "roles_changed")
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user.roles_change",
        target_type=TARGET,
        target_id=str(user.id),
        detail={"before": before, "after": sorted(set(roles)), "at": at},
    )
    return await settled(session, user)
