"""Dependency aliases of identity's routers."""

from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.auth import LocalVerifier
from identity.context import IdentityContext
from mch_common.auth.deps import require_scope
from mch_common.auth.principal import Principal
from mch_common.idempotency import answer_holds_secret

USER_ADMIN = "identity:user:admin"
AUDIT_READ = "identity:audit:read"
REVIEW_SIGN = "identity:review:sign"
TERMINAL_ADMIN = "identity:terminal:admin"
KEY_ROTATE = "identity:key:rotate"
CLIENT_ADMIN = "identity:client:admin"


async def get_context(request: Request) -> IdentityContext:
    context: IdentityContext = request.app.state.identity
    return context


async def get_sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


async def get_verifier(request: Request) -> LocalVerifier:
    verifier: LocalVerifier = request.app.state.verifier
    return verifier


async def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"
    answer_holds_secret()


# On every route whose answer holds a secret shown once (a password, a TOTP or client secret):
# no cache between here and the administrator may keep a copy, and a retry with the same
# Idempotency-Key is told it was done (409) instead of being shown the secret again.
SHOWS_SECRET = [Depends(_no_store)]

Context = Annotated[IdentityContext, Depends(get_context)]
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
Verifier = Annotated[LocalVerifier, Depends(get_verifier)]
UserAdmin = Annotated[Principal, require_scope(USER_ADMIN)]
ReviewSigner = Annotated[Principal, require_scope(REVIEW_SIGN)]
TerminalAdmin = Annotated[Principal, require_scope(TERMINAL_ADMIN)]
KeyRotator = Annotated[Principal, require_scope(KEY_ROTATE)]
ClientAdmin = Annotated[Principal, require_scope(CLIENT_ADMIN)]
