"""A staff member changes their own password (POST /oauth2/password)."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.context import IdentityContext
from identity.crypto import check_password_policy, hash_password_async, verify_password
from identity.tokens.issuing import commit_then_raise
from identity.tokens.login import StaffCredentials, authenticate
from identity.users.live_tokens import cut_live_tokens
from mch_common.errors import InvalidInput
from mch_common.work import UnitOfWork


async def change_password(
    sessions: async_sessionmaker[AsyncSession],
    ctx: IdentityContext,
    *,
    credentials: StaffCredentials,
    new_password: str,
) -> None:
    """Authenticated as at login (so an expired password can still be changed). Every token
    the user holds is refused afterwards."""

    # Before anything is checked or used up: the policy needs only the form.
    check_password_policy(
        new_password,
        login_id=credentials.login_id,
        min_length=ctx.settings.password_min_length,
        field="new_password",
    )

    async def work(session: AsyncSession) -> None:
        user = await authenticate(session, ctx, credentials, action="identity.password_change")
        if await verify_password(user.password_hash, new_password):
            raise InvalidInput(
                "the new password is the current one; choose another",
                errors=[
                    {
                        "loc": ["new_password"],
                        "msg": "same as the current password",
                        "type": "password_policy",
                    }
                ],
            )
        user.password_hash = await hash_password_async(new_password)
        user.password_changed_at = datetime.now(UTC)
        user.password_must_change = False
        await cut_live_tokens(session, ctx, user, "password_changed")
        UnitOfWork.of(session).record(
            actor=str(user.id),
            terminal=credentials.terminal_id,
            action="identity.password_change",
            target_type="staff_user",
            target_id=str(user.id),
            detail={"login_id": user.login_id},
        )

    await commit_then_raise(sessions, work)
