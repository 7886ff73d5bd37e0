"""Identity's event catalogue (see docs/service-conventions.md): the revocations every service
applies. The types and payloads are the platform's revocation contract, which mch_common owns
(mch_common.auth.revocation), since every service's token check depends on them."""

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from mch_common.auth.revocation import (
    CLIENT_REVOKING_EVENTS,
    TOKEN_REVOKED,
    USER_REVOKING_EVENTS,
    ClientRevoked,
    TokenRevoked,
    UserRevoked,
)
from mch_common.events.catalogue import EventType
from mch_common.work import UnitOfWork

SERVICE = "identity"

UserVerb = Literal[
    "revoked", "suspended", "transferred", "deleted", "roles_changed", "password_changed"
]
ClientVerb = Literal["secret_rotated", "scopes_changed", "deactivated"]

USER_EVENTS = {
    t.rsplit(".", 1)[1]: EventType(SERVICE, t, UserRevoked) for t in USER_REVOKING_EVENTS
}
CLIENT_EVENTS = {
    t.rsplit(".", 1)[1]: EventType(SERVICE, t, ClientRevoked) for t in CLIENT_REVOKING_EVENTS
}
TOKEN_REVOKED_EVENT = EventType(SERVICE, TOKEN_REVOKED, TokenRevoked)
CATALOGUE: tuple[EventType[Any], ...] = (
    *USER_EVENTS.values(),
    *CLIENT_EVENTS.values(),
    TOKEN_REVOKED_EVENT,
)


def emit_user_event(
    session: AsyncSession, *, tenant: str, user_id: uuid.UUID, verb: UserVerb, at: float
) -> None:
    USER_EVENTS[verb].emit(
        UnitOfWork.of(session),
        tenant=tenant,
        subject=str(user_id),
        data=UserRevoked(user_id=str(user_id), at=at),
    )


def emit_client_event(
    session: AsyncSession, *, tenant: str, client_id: str, verb: ClientVerb, at: float
) -> None:
    """Every token the service client holds from before `at` is refused (its `sub`)."""
    CLIENT_EVENTS[verb].emit(
        UnitOfWork.of(session),
        tenant=tenant,
        subject=client_id,
        data=ClientRevoked(client_id=client_id, subject=f"svc:{client_id}", at=at),
    )


def emit_token_revoked(session: AsyncSession, *, tenant: str, jti: str, exp: datetime) -> None:
    TOKEN_REVOKED_EVENT.emit(
        UnitOfWork.of(session),
        tenant=tenant,
        subject=jti,
        data=TokenRevoked(jti=jti, exp=int(exp.astimezone(UTC).timestamp())),
    )
