"""Credentials an administrator resets: the password and the second factor (a lost card)."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from identity import totp
from identity.context import IdentityContext
from identity.crypto import check_password_policy, generate_password, hash_password_async
from identity.users.accounts import TARGET, settled, user_for_change
from identity.users.models import User
from mch_common.auth.principal import Principal
from mch_common.work import UnitOfWork


async def reset_password(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    actor: Principal,
    user_id: uuid.UUID,
    password: str | None,
) -> str | None:
    """Returns the generated password when none was given (shown once)."""
    user = await user_for_change(session, user_id)
    new = generate_password() if password is None else password
    if password is not None:
        check_password_policy(
            new, login_id=user.login_id, min_length=ctx.settings.password_min_length
        )
    user.password_hash = await hash_password_async(new)
    user.password_changed_at = datetime.now(UTC)
    user.password_must_change = True  # the administrator knows it
    user.failed_attempts = 0
    user.locked_until = None
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user.password_reset",
        target_type=TARGET,
        target_id=str(user.id),
    )
    return new if password is None else None


async def reissue_second_factor(
    session: AsyncSession, ctx: IdentityContext, *, actor: Principal, user_id: uuid.UUID
) -> tuple[User, str, str]:
    """A new TOTP secret (the lost-card case): the old one stops working at once."""
    user = await user_for_change(session, user_id)
    secret = totp.new_secret()
    user.totp_secret_encrypted = ctx.box.encrypt(secret.encode(), purpose=f"totp:{user.login_id}")
    user.totp_confirmed_at = None
    user.totp_last_step = None
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.user.second_factor_reissue",
        target_type=TARGET,
        target_id=str(user.id),
    )
    uri = totp.provisioning_uri(secret, login_id=user.login_id, issuer=ctx.settings.totp_issuer)
    return await settled(session, user), secret, uri
