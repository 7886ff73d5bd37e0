"""Identity's events (see docs/service-conventions.md): revocations every service applies."""

import math
import time
import uuid
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from mch_common.events import emit_event

SOURCE = "identity"

UserVerb = Literal[
    "revoked", "suspended", "transferred", "deleted", "roles_changed", "password_changed"
]


def revocation_instant(now: float | None = None) -> int:
    """`at` of a user event: tokens with `iat < at` are refused. Rounded up, so a token issued
    earlier in the same second is refused too (identity never issues a later token with an
    `iat` below it: see tokens.service.issue_time)."""
    return math.ceil(time.time() if now is None else now)


async def emit_user_event(
    session: AsyncSession, *, tenant: str, user_id: uuid.UUID, verb: UserVerb, at: int
) -> None:
    await emit_event(
        session,
        source=SOURCE,
        type=f"identity.user.{verb}",
        subject=str(user_id),
        data={"user_id": str(user_id), "at": at},
        tenant=tenant,
    )


ClientVerb = Literal["secret_rotated", "scopes_changed", "deactivated"]


async def emit_client_event(
    session: AsyncSession, *, tenant: str, client_id: str, verb: ClientVerb, at: int
) -> None:
    """Every token the service client holds from before `at` is refused (its `sub`)."""
    await emit_event(
        session,
        source=SOURCE,
        type=f"identity.client.{verb}",
        subject=client_id,
        data={"client_id": client_id, "subject": f"svc:{client_id}", "at": at},
        tenant=tenant,
    )


async def emit_token_revoked(
    session: AsyncSession, *, tenant: str, jti: str, exp: datetime
) -> None:
    await emit_event(
        session,
        source=SOURCE,
        type="identity.token.revoked",
        subject=jti,
        data={"jti": jti, "exp": int(exp.astimezone(UTC).timestamp())},
        tenant=tenant,
    )
