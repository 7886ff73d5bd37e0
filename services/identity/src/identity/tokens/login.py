"""Staff login (the password grant): terminal, password, one-time code, lockout, the terminal's
place, password age. Every refusal is audited as a failed login and committed."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import totp
from identity.context import IdentityContext
from identity.crypto import verify_password
from identity.errors import (
    AccountInactive,
    AccountLocked,
    InvalidCredentials,
    InvalidSecondFactor,
    PasswordExpired,
    TerminalOfAnotherWard,
    UnregisteredTerminal,
)
from identity.terminals.models import Terminal
from identity.tokens.issuing import TokenSet, commit_then_raise, issue_staff_tokens
from identity.users import repository as users
from identity.users.models import User, UserStatus
from identity.users.transfers import apply_due_transfers
from mch_common.dates import today_tokyo
from mch_common.errors import DomainError
from mch_common.work import UnitOfWork


@dataclass(frozen=True)
class StaffCredentials:
    """What a staff member presents to log in, or to change their password."""

    login_id: str
    password: str
    totp_code: str
    terminal_id: str


def inactive_reason(user: User, today: date) -> str | None:
    if user.status != UserStatus.ACTIVE:
        return f"the account is {user.status}; ask a user administrator"
    if today < user.valid_from:
        return f"the account is valid from {user.valid_from.isoformat()}"
    if user.valid_until is not None and today > user.valid_until:
        return f"the account's validity period ended on {user.valid_until.isoformat()}"
    return None


def _login_failed(
    session: AsyncSession,
    ctx: IdentityContext,
    credentials: StaffCredentials,
    *,
    error: DomainError,
    reason: str,
    user: User | None,
    counts: bool,
    action: str,
) -> DomainError:
    """Audit the refusal (and count it towards the lockout when `counts`); returns `error`."""
    detail: dict[str, Any] = {"login_id": credentials.login_id[:50], "reason": reason}
    if user is not None and counts:
        user.failed_attempts += 1
        detail["failed_attempts"] = user.failed_attempts
        if user.failed_attempts >= ctx.settings.lockout_threshold:
            user.locked_until = datetime.now(UTC) + timedelta(seconds=ctx.settings.lockout_seconds)
            user.failed_attempts = 0
            detail["locked_until"] = user.locked_until.isoformat()
    UnitOfWork.of(session).record(
        actor=str(user.id) if user is not None else "unknown",
        terminal=credentials.terminal_id[:100],
        action=action,
        outcome="failure",
        target_type="staff_user",
        target_id=str(user.id) if user is not None else None,
        detail=detail,
    )
    return error


def _terminal_is_elsewhere(terminal: Terminal, user: User) -> bool:
    """A ward office's terminal serves that ward's staff; a headquarters terminal (no ward)
    serves anyone."""
    return terminal.ward is not None and user.ward is not None and terminal.ward != user.ward


async def authenticate(
    session: AsyncSession, ctx: IdentityContext, credentials: StaffCredentials, *, action: str
) -> User:
    """A staff member's terminal, password, one-time code and the terminal's place, checked in
    that order. Every refusal is counted where it should be, audited as `action`, and raised (the
    caller commits before the error is answered). The one-time code is used up on success."""
    now = datetime.now(UTC)

    def fail(
        error: DomainError, reason: str, user: User | None = None, *, counts: bool = False
    ) -> DomainError:
        return _login_failed(
            session,
            ctx,
            credentials,
            error=error,
            reason=reason,
            user=user,
            counts=counts,
            action=action,
        )

    terminal = await session.get(Terminal, credentials.terminal_id)
    if terminal is None or not terminal.active:
        raise fail(
            UnregisteredTerminal(
                "Log in from a registered terminal; this terminal id is not registered or was "
                "deactivated."
            ),
            "unregistered_terminal",
        )
    user = await users.get_user_by_login(session, credentials.login_id, for_update=True)
    if user is not None and user.locked_until is not None:
        if user.locked_until > now:
            raise fail(
                AccountLocked(
                    "Too many failed attempts: the account is locked until "
                    f"{user.locked_until.isoformat(timespec='minutes')} (UTC) or until a user "
                    "administrator unlocks it."
                ),
                "locked",
                user,
            )
        user.locked_until = None
        user.failed_attempts = 0
    verified = await verify_password(user.password_hash if user else None, credentials.password)
    if user is None or not verified:
        raise fail(
            InvalidCredentials("The user id or password is incorrect."),
            "invalid_credentials",
            user,
            counts=True,
        )
    inactive = inactive_reason(user, today_tokyo())
    if inactive is not None:
        raise fail(AccountInactive(inactive), f"inactive:{user.status}", user)
    secret = ctx.box.decrypt(user.totp_secret_encrypted, purpose=f"totp:{user.login_id}")
    step = totp.matching_step(secret.decode(), credentials.totp_code.strip())
    if step is None:
        raise fail(
            InvalidSecondFactor("The one-time code is wrong."), "totp_wrong", user, counts=True
        )
    if user.totp_last_step is not None and step <= user.totp_last_step:
        raise fail(
            InvalidSecondFactor("The one-time code was already used; wait for the next one."),
            "totp_replayed",
            user,
            counts=True,
        )
    user.failed_attempts = 0
    user.totp_last_step = step
    user.totp_confirmed_at = user.totp_confirmed_at or now
    # A transfer whose date has come applies first: the ward it gives decides which terminals
    # the user may use (it updates this same `user` object: one identity map per session).
    await apply_due_transfers(session, ctx, user_id=user.id)
    if _terminal_is_elsewhere(terminal, user):
        raise fail(
            TerminalOfAnotherWard(
                f"Terminal {terminal.id} belongs to another ward office; log in from a terminal "
                "of your own ward office or of headquarters."
            ),
            "terminal_of_another_ward",
            user,
        )
    return user


def _password_expiry(user: User, ctx: IdentityContext, now: datetime) -> str | None:
    """Why the user's password must be changed before a login, or None."""
    if user.password_must_change:
        return "The password was set by a user administrator: choose your own"
    max_age = ctx.settings.password_max_age_days
    if max_age and now - user.password_changed_at >= timedelta(days=max_age):
        return f"The password is older than {max_age} days: choose a new one"
    return None


async def password_grant(
    sessions: async_sessionmaker[AsyncSession],
    ctx: IdentityContext,
    *,
    credentials: StaffCredentials,
    requested_scope: str | None,
) -> TokenSet:
    async def work(session: AsyncSession) -> TokenSet:
        return await _log_in(session, ctx, credentials, requested_scope=requested_scope)

    return await commit_then_raise(sessions, work)


async def _log_in(
    session: AsyncSession,
    ctx: IdentityContext,
    credentials: StaffCredentials,
    *,
    requested_scope: str | None,
) -> TokenSet:
    now = datetime.now(UTC)
    terminal_id = credentials.terminal_id
    user = await authenticate(session, ctx, credentials, action="identity.login")
    expired = _password_expiry(user, ctx, now)
    if expired is not None:
        raise _login_failed(
            session,
            ctx,
            credentials,
            error=PasswordExpired(
                f"{expired} (POST /oauth2/password with a new one-time code), then log in."
            ),
            reason="password_expired",
            user=user,
            counts=False,
            action="identity.login",
        )
    user.last_login_at = now
    tokens = await issue_staff_tokens(
        session,
        ctx,
        user=user,
        terminal_id=terminal_id,
        requested_scope=requested_scope,
        family_id=uuid.uuid4(),
        refresh_expires_at=now + timedelta(seconds=ctx.settings.refresh_token_ttl_seconds),
    )
    UnitOfWork.of(session).record(
        actor=str(user.id),
        terminal=terminal_id,
        action="identity.login",
        target_type="staff_user",
        target_id=str(user.id),
        detail={
            "login_id": user.login_id,
            "ward": user.ward,
            "roles": user.role_names,
            "scope": tokens.scope,
        },
    )
    return tokens
