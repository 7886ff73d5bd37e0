"""The refresh_token grant: rotation within a family, reuse detection."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.context import IdentityContext
from identity.crypto import token_digest
from identity.errors import InvalidGrant, RefreshTokenReused
from identity.terminals.models import Terminal
from identity.tokens import repository
from identity.tokens.issuing import TokenSet, commit_then_raise, issue_staff_tokens
from identity.tokens.login import inactive_reason
from identity.tokens.revocation import revoke_family
from identity.users import repository as users
from identity.users.transfers import apply_due_transfers
from mch_common.dates import today_tokyo
from mch_common.errors import DomainError
from mch_common.work import UnitOfWork


async def refresh_grant(
    sessions: async_sessionmaker[AsyncSession],
    ctx: IdentityContext,
    *,
    refresh_token: str,
    requested_scope: str | None,
) -> TokenSet:
    async def work(session: AsyncSession) -> TokenSet:
        return await _refresh(
            session, ctx, refresh_token=refresh_token, requested_scope=requested_scope
        )

    return await commit_then_raise(sessions, work)


async def _refresh(
    session: AsyncSession, ctx: IdentityContext, *, refresh_token: str, requested_scope: str | None
) -> TokenSet:
    now = datetime.now(UTC)
    stored = await repository.refresh_token_by_digest(
        session, token_digest(refresh_token), for_update=True
    )
    if stored is None:
        raise InvalidGrant("The refresh token is not known.")

    async def refuse(error: DomainError, reason: str, *, revoke_whole_family: bool) -> DomainError:
        detail: dict[str, Any] = {"family_id": str(stored.family_id), "reason": reason}
        if revoke_whole_family:
            detail["access_tokens_revoked"] = await revoke_family(
                session, ctx, family_id=stored.family_id, reason=reason
            )
        UnitOfWork.of(session).record(
            actor=str(stored.user_id),
            terminal=stored.terminal_id,
            action="identity.token.refresh",
            outcome="failure",
            target_type="staff_user",
            target_id=str(stored.user_id),
            detail=detail,
        )
        return error

    if stored.used_at is not None:
        raise await refuse(
            RefreshTokenReused(
                "This refresh token was already used: the whole session is revoked. Log in again."
            ),
            "refresh_reuse",
            revoke_whole_family=True,
        )
    if stored.revoked_at is not None:
        raise await refuse(
            InvalidGrant("The session was revoked. Log in again."),
            "revoked",
            revoke_whole_family=False,
        )
    if stored.expires_at <= now:
        raise await refuse(
            InvalidGrant("The session expired. Log in again."), "expired", revoke_whole_family=False
        )
    await apply_due_transfers(session, ctx, user_id=stored.user_id)
    user = await users.get_user(session, stored.user_id)
    terminal = await session.get(Terminal, stored.terminal_id)
    await session.refresh(stored)
    problem: str | None = None
    if user is None or user.deleted_at is not None:
        problem = "the user id was deleted"
    elif (reason := inactive_reason(user, today_tokyo())) is not None:
        problem = reason
    elif stored.revoked_at is not None or (
        user.tokens_valid_after is not None and stored.issued_at < user.tokens_valid_after
    ):
        problem = "the user's access changed since this session began"
    elif terminal is None or not terminal.active:
        problem = "the terminal is no longer registered"
    if problem is not None or user is None:
        raise await refuse(
            InvalidGrant(f"The session cannot continue: {problem}. Log in again."),
            "user_or_terminal_changed",
            revoke_whole_family=True,
        )
    stored.used_at = now
    tokens = await issue_staff_tokens(
        session,
        ctx,
        user=user,
        terminal_id=stored.terminal_id,
        requested_scope=requested_scope,
        family_id=stored.family_id,
        refresh_expires_at=stored.expires_at,  # rotation never extends the session
    )
    UnitOfWork.of(session).record(
        actor=str(user.id),
        terminal=stored.terminal_id,
        action="identity.token.refresh",
        target_type="staff_user",
        target_id=str(user.id),
        detail={"family_id": str(stored.family_id)},
    )
    return tokens
