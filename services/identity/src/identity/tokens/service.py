"""The OAuth2 grants: password (+ TOTP + terminal), refresh_token (rotating), client_credentials;
revocation and logout.

Grants take a session factory, not a session: a refused login must still commit its failure
count and audit record, so each grant runs its own unit of work and raises after the commit.
"""

import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import totp
from identity.auth import LocalVerifier
from identity.context import IdentityContext
from identity.crypto import (
    check_password_policy,
    client_secret_matches,
    hash_password_async,
    opaque_token,
    token_digest,
    verify_password,
)
from identity.errors import (
    AccountInactive,
    AccountLocked,
    InvalidClient,
    InvalidCredentials,
    InvalidGrant,
    InvalidScope,
    InvalidSecondFactor,
    PasswordExpired,
    RefreshTokenReused,
    UnregisteredTerminal,
)
from identity.events import emit_token_revoked
from identity.terminals.models import Terminal
from identity.tokens.models import RefreshToken, RevokedToken, ServiceClient
from identity.users import repository as users
from identity.users.models import User, UserStatus
from identity.users.service import apply_due_transfers, cut_live_tokens
from mch_common.auth.principal import Principal
from mch_common.auth.verifier import service_subject
from mch_common.dates import today_tokyo
from mch_common.db import unit_of_work
from mch_common.errors import DomainError, InvalidInput, Unauthorized
from mch_common.work import UnitOfWork

T = TypeVar("T")


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    token_type: str = "Bearer"


async def _commit_then_raise(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
) -> T:
    """Run `work` in one transaction; a DomainError it raises is re-raised after the commit, so
    what it recorded before refusing (failure counts, audit, family revocation) is kept."""
    failure: DomainError | None = None
    async with unit_of_work(sessions) as session:
        try:
            return await work(session)
        except DomainError as exc:
            failure = exc
    raise failure


def _narrow(granted: list[str], requested: str | None) -> list[str]:
    if not requested:
        return granted
    wanted = sorted(set(requested.split()))
    missing = [s for s in wanted if s not in granted]
    if missing:
        raise InvalidScope(f"scope(s) not granted: {' '.join(missing)}")
    return wanted


def issue_time(user: User | None) -> int:
    """Never below the user's revocation instant: services refuse `iat < at`."""
    now = int(time.time())
    if user is not None and user.tokens_valid_after is not None:
        return max(now, math.ceil(user.tokens_valid_after.timestamp()))
    return now


def _sign_staff_token(
    ctx: IdentityContext, *, user: User, scopes: list[str], terminal_id: str
) -> tuple[str, str, datetime]:
    iat = issue_time(user)
    exp = iat + ctx.settings.access_token_ttl_seconds
    jti = uuid.uuid4().hex
    claims: dict[str, Any] = {
        "iss": ctx.settings.jwt_issuer,
        "aud": ctx.settings.jwt_audience,
        "sub": str(user.id),
        "tenant": ctx.settings.tenant,
        "dept": user.dept,
        "ward": user.ward,
        "roles": user.role_names,
        "scope": " ".join(scopes),
        "terminal": terminal_id,
        "preferred_username": user.login_id,
        "jti": jti,
        "iat": iat,
        "exp": exp,
    }
    return ctx.keyring.sign(claims), jti, datetime.fromtimestamp(exp, UTC)


async def _staff_tokens(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    user: User,
    terminal_id: str,
    requested_scope: str | None,
    family_id: uuid.UUID,
    refresh_expires_at: datetime,
) -> TokenSet:
    scopes = _narrow(await users.scopes_of(session, user.role_names), requested_scope)
    access, jti, exp = _sign_staff_token(ctx, user=user, scopes=scopes, terminal_id=terminal_id)
    refresh = opaque_token()
    session.add(
        RefreshToken(
            id=uuid.uuid4(),
            token_hash=token_digest(refresh),
            family_id=family_id,
            user_id=user.id,
            terminal_id=terminal_id,
            issued_at=datetime.now(UTC),
            expires_at=refresh_expires_at,
            access_jti=jti,
            access_exp=exp,
        )
    )
    return TokenSet(
        access_token=access,
        expires_in=ctx.settings.access_token_ttl_seconds,
        scope=" ".join(scopes),
        refresh_token=refresh,
    )


def _inactive_reason(user: User, today: date) -> str | None:
    if user.status != UserStatus.ACTIVE:
        return f"the account is {user.status}; ask a user administrator"
    if today < user.valid_from:
        return f"the account is valid from {user.valid_from.isoformat()}"
    if user.valid_until is not None and today > user.valid_until:
        return f"the account's validity period ended on {user.valid_until.isoformat()}"
    return None


@dataclass(frozen=True)
class StaffCredentials:
    """What a staff member presents to log in, or to change their password."""

    login_id: str
    password: str
    totp_code: str
    terminal_id: str


async def password_grant(
    sessions: async_sessionmaker[AsyncSession],
    ctx: IdentityContext,
    credentials: StaffCredentials,
    *,
    requested_scope: str | None,
) -> TokenSet:
    async def work(session: AsyncSession) -> TokenSet:
        return await _password_grant(session, ctx, credentials, requested_scope=requested_scope)

    return await _commit_then_raise(sessions, work)


async def _login_failed(
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
    now = datetime.now(UTC)
    detail: dict[str, Any] = {"login_id": credentials.login_id[:50], "reason": reason}
    if user is not None and counts:
        user.failed_attempts += 1
        detail["failed_attempts"] = user.failed_attempts
        if user.failed_attempts >= ctx.settings.lockout_threshold:
            user.locked_until = now + timedelta(seconds=ctx.settings.lockout_seconds)
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


async def _authenticate(
    session: AsyncSession, ctx: IdentityContext, credentials: StaffCredentials, *, action: str
) -> User:
    """A staff member's terminal, password and one-time code, checked in that order. Every
    refusal is counted where it should be, audited as `action`, and raised (the caller commits
    before the error is answered). The one-time code is used up on success."""
    now = datetime.now(UTC)

    async def fail(
        error: DomainError, reason: str, user: User | None = None, *, counts: bool = False
    ) -> DomainError:
        return await _login_failed(
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
        raise await fail(
            UnregisteredTerminal(
                "Log in from a registered terminal; this terminal id is not registered or was "
                "deactivated."
            ),
            "unregistered_terminal",
        )
    user = await users.get_user_by_login(session, credentials.login_id, for_update=True)
    if user is not None and user.locked_until is not None:
        if user.locked_until > now:
            raise await fail(
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
    if not await verify_password(user.password_hash if user else None, credentials.password):
        raise await fail(
            InvalidCredentials("The user id or password is incorrect."),
            "invalid_credentials",
            user,
            counts=True,
        )
    assert user is not None  # verify_password is False for an unknown user
    inactive = _inactive_reason(user, today_tokyo())
    if inactive is not None:
        raise await fail(AccountInactive(inactive), f"inactive:{user.status}", user)
    secret = ctx.box.decrypt(user.totp_secret_encrypted, purpose=f"totp:{user.login_id}")
    step = totp.matching_step(secret.decode(), credentials.totp_code.strip())
    if step is None:
        raise await fail(
            InvalidSecondFactor("The one-time code is wrong."), "totp_wrong", user, counts=True
        )
    if user.totp_last_step is not None and step <= user.totp_last_step:
        raise await fail(
            InvalidSecondFactor("The one-time code was already used; wait for the next one."),
            "totp_replayed",
            user,
            counts=True,
        )
    user.failed_attempts = 0
    user.totp_last_step = step
    user.totp_confirmed_at = user.totp_confirmed_at or now
    return user


def _password_expiry(user: User, ctx: IdentityContext, now: datetime) -> str | None:
    """Why the user's password must be changed before a login, or None."""
    if user.password_must_change:
        return "The password was set by a user administrator: choose your own"
    max_age = ctx.settings.password_max_age_days
    if max_age and now - user.password_changed_at >= timedelta(days=max_age):
        return f"The password is older than {max_age} days: choose a new one"
    return None


async def _password_grant(
    session: AsyncSession,
    ctx: IdentityContext,
    credentials: StaffCredentials,
    *,
    requested_scope: str | None,
) -> TokenSet:
    now = datetime.now(UTC)
    terminal_id = credentials.terminal_id
    user = await _authenticate(session, ctx, credentials, action="identity.login")
    expired = _password_expiry(user, ctx, now)
    if expired is not None:
        raise await _login_failed(
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
    # Success: a transfer whose date has come applies before the token shows ward and roles.
    # (it updates this same `user` object: one identity map per session).
    await apply_due_transfers(session, ctx, user_id=user.id)
    user.last_login_at = now
    tokens = await _staff_tokens(
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


async def change_password(
    sessions: async_sessionmaker[AsyncSession],
    ctx: IdentityContext,
    credentials: StaffCredentials,
    *,
    new_password: str,
) -> None:
    """A staff member changes their own password, authenticated as at login (so an expired
    password can still be changed). Every token they hold is refused afterwards."""

    # Before anything is checked or used up: the policy needs only the form.
    check_password_policy(
        new_password,
        login_id=credentials.login_id,
        min_length=ctx.settings.password_min_length,
        field="new_password",
    )

    async def work(session: AsyncSession) -> None:
        user = await _authenticate(session, ctx, credentials, action="identity.password_change")
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

    await _commit_then_raise(sessions, work)


async def _revoke_family(
    session: AsyncSession, ctx: IdentityContext, *, family_id: uuid.UUID, reason: str
) -> int:
    """Revoke every refresh token of the family and every access token it issued that is
    still alive; returns how many access tokens were revoked."""
    now = datetime.now(UTC)
    members = (
        (await session.execute(select(RefreshToken).where(RefreshToken.family_id == family_id)))
        .scalars()
        .all()
    )
    revoked = 0
    for member in members:
        if member.revoked_at is None:
            member.revoked_at = now
        if member.access_exp > now and await _revoke_jti(
            session, ctx, jti=member.access_jti, exp=member.access_exp, reason=reason
        ):
            revoked += 1
    return revoked


async def _revoke_jti(
    session: AsyncSession, ctx: IdentityContext, *, jti: str, exp: datetime, reason: str
) -> bool:
    inserted = await session.execute(
        insert(RevokedToken)
        .values(jti=jti, exp=exp, reason=reason)
        .on_conflict_do_nothing()
        .returning(RevokedToken.jti)
    )
    if inserted.scalar_one_or_none() is None:
        return False
    emit_token_revoked(session, tenant=ctx.settings.tenant, jti=jti, exp=exp)
    return True


async def refresh_grant(
    sessions: async_sessionmaker[AsyncSession],
    ctx: IdentityContext,
    *,
    refresh_token: str,
    requested_scope: str | None,
) -> TokenSet:
    async def work(session: AsyncSession) -> TokenSet:
        return await _refresh_grant(
            session, ctx, refresh_token=refresh_token, requested_scope=requested_scope
        )

    return await _commit_then_raise(sessions, work)


async def _refresh_grant(
    session: AsyncSession, ctx: IdentityContext, *, refresh_token: str, requested_scope: str | None
) -> TokenSet:
    now = datetime.now(UTC)
    stored = (
        await session.execute(
            select(RefreshToken)
            .where(RefreshToken.token_hash == token_digest(refresh_token))
            .with_for_update()
        )
    ).scalar_one_or_none()
    if stored is None:
        raise InvalidGrant("The refresh token is not known.")

    async def refuse(error: DomainError, reason: str, *, revoke_family: bool) -> DomainError:
        detail: dict[str, Any] = {"family_id": str(stored.family_id), "reason": reason}
        if revoke_family:
            detail["access_tokens_revoked"] = await _revoke_family(
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
            revoke_family=True,
        )
    if stored.revoked_at is not None:
        raise await refuse(
            InvalidGrant("The session was revoked. Log in again."), "revoked", revoke_family=False
        )
    if stored.expires_at <= now:
        raise await refuse(
            InvalidGrant("The session expired. Log in again."), "expired", revoke_family=False
        )
    await apply_due_transfers(session, ctx, user_id=stored.user_id)
    user = await users.get_user(session, stored.user_id)
    terminal = await session.get(Terminal, stored.terminal_id)
    await session.refresh(stored)
    problem: str | None = None
    if user is None or user.deleted_at is not None:
        problem = "the user id was deleted"
    elif (reason := _inactive_reason(user, today_tokyo())) is not None:
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
            revoke_family=True,
        )
    stored.used_at = now
    tokens = await _staff_tokens(
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


async def client_credentials_grant(
    sessions: async_sessionmaker[AsyncSession],
    ctx: IdentityContext,
    *,
    client_id: str,
    client_secret: str,
    requested_scope: str | None,
) -> TokenSet:
    async def work(session: AsyncSession) -> TokenSet:
        client = await session.get(ServiceClient, client_id)
        ok = client_secret_matches(client.secret_hash if client else None, client_secret)
        if client is None or not ok or not client.active:
            UnitOfWork.of(session).record(
                actor=service_subject(client_id[:50]),
                action="identity.client.token",
                outcome="failure",
                detail={"reason": "invalid_client"},
            )
            raise InvalidClient("Unknown client, wrong secret or deactivated client.")
        scopes = _narrow(sorted(client.scopes), requested_scope)
        iat = int(time.time())
        if client.tokens_valid_after is not None:  # never below its revocation instant
            iat = max(iat, math.ceil(client.tokens_valid_after.timestamp()))
        exp = iat + ctx.settings.service_token_ttl_seconds
        claims: dict[str, Any] = {
            "iss": ctx.settings.jwt_issuer,
            "aud": ctx.settings.jwt_audience,
            "sub": service_subject(client.client_id),
            "client_id": client.client_id,
            "tenant": ctx.settings.tenant,
            "dept": None,
            "ward": None,
            "roles": [],
            "scope": " ".join(scopes),
            "terminal": None,
            "jti": uuid.uuid4().hex,
            "iat": iat,
            "exp": exp,
        }
        UnitOfWork.of(session).record(
            actor=claims["sub"],
            action="identity.client.token",
            detail={"scope": claims["scope"], "jti": claims["jti"]},
        )
        return TokenSet(
            access_token=ctx.keyring.sign(claims),
            expires_in=ctx.settings.service_token_ttl_seconds,
            scope=claims["scope"],
        )

    return await _commit_then_raise(sessions, work)


async def revoke(
    session: AsyncSession,
    ctx: IdentityContext,
    verifier: LocalVerifier,
    *,
    token: str,
    token_type_hint: str | None,
) -> None:
    """RFC 7009: revoke a refresh token (its whole family) or an access token; an unknown or
    invalid token is not an error (the answer must not tell which tokens exist)."""
    stored = (
        await session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == token_digest(token))
        )
    ).scalar_one_or_none()
    if stored is not None:
        count = await _revoke_family(session, ctx, family_id=stored.family_id, reason="revoked")
        UnitOfWork.of(session).record(
            actor=str(stored.user_id),
            terminal=stored.terminal_id,
            action="identity.token.revoke",
            target_type="staff_user",
            target_id=str(stored.user_id),
            detail={"family_id": str(stored.family_id), "access_tokens_revoked": count},
        )
        return
    try:
        claims = await verifier.decode(token)
    except Unauthorized:
        return
    exp = datetime.fromtimestamp(float(claims["exp"]), UTC)
    await _revoke_jti(session, ctx, jti=str(claims["jti"]), exp=exp, reason="revoked")
    UnitOfWork.of(session).record(
        actor=str(claims["sub"]),
        terminal=claims.get("terminal"),
        action="identity.token.revoke",
        detail={"jti": claims["jti"]},
    )


async def logout(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    principal: Principal,
    refresh_token: str | None,
) -> None:
    """Revoke the caller's access token and its session (the refresh-token family)."""
    family_ids: set[uuid.UUID] = set(
        (
            await session.execute(
                select(RefreshToken.family_id).where(RefreshToken.access_jti == principal.jti)
            )
        ).scalars()
    )
    if refresh_token:
        family = (
            await session.execute(
                select(RefreshToken.family_id).where(
                    RefreshToken.token_hash == token_digest(refresh_token),
                    RefreshToken.user_id == _uuid_or_none(principal.sub),
                )
            )
        ).scalar_one_or_none()
        if family is not None:
            family_ids.add(family)
    for family_id in family_ids:
        await _revoke_family(session, ctx, family_id=family_id, reason="logout")
    exp_claim = principal.claims.get("exp")
    if principal.jti and isinstance(exp_claim, int | float):
        await _revoke_jti(
            session,
            ctx,
            jti=principal.jti,
            exp=datetime.fromtimestamp(float(exp_claim), UTC),
            reason="logout",
        )
    UnitOfWork.of(session).record(
        actor=principal.sub,
        terminal=principal.terminal,
        action="identity.logout",
        target_type="staff_user" if not principal.is_service else None,
        target_id=principal.sub,
        detail={"sessions_ended": len(family_ids)},
    )


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def purge_expired(session: AsyncSession) -> None:
    """Drop revoked-token rows and refresh tokens that can no longer matter."""
    now = datetime.now(UTC)
    await session.execute(delete(RevokedToken).where(RevokedToken.exp < now))
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.expires_at < now, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
