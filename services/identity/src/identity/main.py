"""The identity service: `uvicorn --factory identity.main:create_app`."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import maintenance
from identity.auth import LocalVerifier
from identity.clients.router import router as clients_router
from identity.config import Settings
from identity.context import IdentityContext
from identity.crypto import SecretBox
from identity.deps import AUDIT_READ
from identity.keys.router import router as keys_router
from identity.keys.service import KeyRing
from identity.reviews.router import router as reviews_router
from identity.terminals.router import router as terminals_router
from identity.tokens.router import router as tokens_router
from identity.users.router import router as users_router
from mch_common.audit_api import audit_router
from mch_common.jobs import cancelled
from mch_common.runtime import Runtime, service_lifespan
from mch_common.web import create_service_app

STREAM = "identity"
# Revocations must outlive every token they refuse (access tokens live minutes); the
# RevocationWatcher in every service replays this stream from its start.
STREAM_MAX_AGE = timedelta(days=1)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = IdentityContext(
            settings=settings,
            box=SecretBox(settings.key_encryption_secret),
            keyring=KeyRing(SecretBox(settings.key_encryption_secret)),
        )

        def current_sessions() -> async_sessionmaker[AsyncSession]:
            # Read per request: tests swap in their own session factory after startup.
            sessions: async_sessionmaker[AsyncSession] = app.state.sessions
            return sessions

        def local_verifier(runtime: Runtime) -> LocalVerifier:
            # Identity verifies its own tokens locally and against the database (see auth.py).
            return LocalVerifier(
                keyring=ctx.keyring,
                sessions=current_sessions,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )

        base_lifespan = service_lifespan(
            settings,
            stream_service=STREAM,
            stream_max_age=STREAM_MAX_AGE,
            verifier=local_verifier,
        )
        async with base_lifespan(app):
            runtime: Runtime = app.state.runtime
            app.state.identity = ctx
            await maintenance.ensure_keys(runtime.sessions, ctx)
            job = maintenance.job(runtime.sessions, ctx)
            task = asyncio.create_task(job.run_forever(), name=job.name)
            try:
                yield
            finally:
                await cancelled(task)

    return create_service_app(
        service="identity",
        title="MCH identity",
        description=(
            "Staff authentication (password + TOTP on a registered terminal), roles and scopes, "
            "OAuth2 tokens (ES256 JWT), JWKS, revocation events, user administration and the "
            "user-list review."
        ),
        lifespan=lifespan,
        routers=[
            tokens_router,
            reviews_router,  # before users: /admin/users/export.csv is not a user id
            users_router,
            terminals_router,
            clients_router,
            keys_router,
            audit_router(read_scope=AUDIT_READ),
        ],
        # Staff are identity's persons: a refusal on a user's route is recorded like a resident's.
        person_params={"user_id": "staff_user"},
    )
