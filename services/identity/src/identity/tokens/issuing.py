"""Signing access tokens and their refresh tokens, shared by the grants.

`iat` is a NumericDate with microsecond precision (RFC 7519 allows a non-integer value), and
each staff token's `iat` is recorded with its refresh token: a revocation's `at` is later than
every recorded `iat` (identity.users.live_tokens), so services refusing `iat < at` refuse every
token issued before it, however coarse the clock.

Grants take a session factory, not a session: a refused login must still commit its failure
count and audit record, so each grant runs its own unit of work (`commit_then_raise`) and raises
after the commit.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.context import IdentityContext
from identity.crypto import opaque_token, token_digest
from identity.errors import InvalidScope
from identity.tokens.models import RefreshToken
from identity.users import repository as users
from identity.users.models import User
from mch_common.db import unit_of_work
from mch_common.errors import DomainError

T = TypeVar("T")


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    token_type: str = "Bearer"  # noqa: S105 - not a secret


async def commit_then_raise(
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


def narrow_scopes(granted: list[str], requested: str | None) -> list[str]:
    if not requested:
        return granted
    wanted = sorted(set(requested.split()))
    missing = [s for s in wanted if s not in granted]
    if missing:
        raise InvalidScope(f"scope(s) not granted: {' '.join(missing)}")
    return wanted


def new_jti() -> str:
    """A token id in the canonical UUID form. Not `uuid4().hex`: about 1 in 130 of those holds
    12 digits that pass the My Number check digit, and the event guard then refused the token's
    revocation event (a 500 on logout); the guard passes UUIDs as such."""
    return str(uuid.uuid4())


def time_claims(issued_at: datetime, ttl_seconds: int) -> dict[str, float | int]:
    """`iat` to the microsecond, `exp` in whole seconds."""
    iat = issued_at.timestamp()
    return {"iat": iat, "exp": int(iat) + ttl_seconds}


async def issue_staff_tokens(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    user: User,
    terminal_id: str,
    requested_scope: str | None,
    family_id: uuid.UUID,
    refresh_expires_at: datetime,
) -> TokenSet:
    """An access token and a refresh token of `family_id`; the refresh token's row records the
    access token's `iat` (`issued_at`), which a later revocation must exceed."""
    scopes = narrow_scopes(await users.scopes_of(session, user.role_names), requested_scope)
    # Not before the user's last revocation, should this clock lag the one that set it: a token
    # issued after a revocation must survive it. Safe, as the next revocation exceeds this `iat`.
    issued_at = max(datetime.now(UTC), user.tokens_valid_after or datetime.min.replace(tzinfo=UTC))
    times = time_claims(issued_at, ctx.settings.access_token_ttl_seconds)
    jti = new_jti()
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
        **times,
    }
    refresh = opaque_token()
    session.add(
        RefreshToken(
            id=uuid.uuid4(),
            token_hash=token_digest(refresh),
            family_id=family_id,
            user_id=user.id,
            terminal_id=terminal_id,
            issued_at=issued_at,
            expires_at=refresh_expires_at,
            access_jti=jti,
            access_exp=datetime.fromtimestamp(times["exp"], UTC),
        )
    )
    return TokenSet(
        access_token=ctx.keyring.sign(claims),
        expires_in=ctx.settings.access_token_ttl_seconds,
        scope=" ".join(scopes),
        refresh_token=refresh,
    )
