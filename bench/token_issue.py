"""identity benchmark: tokens issued per second, and what verifying them costs a service.

    .venv/bin/python bench/token_issue.py [--seconds 6] [--concurrency 8]

1. Runs the real identity app (uvicorn on 127.0.0.1, in this process) on a scratch database
   with staff users, a terminal and a service client, and drives it over HTTP:
   - staff logins (password grant: argon2id + TOTP + terminal + audit record), each user once
     (a TOTP code is single-use); ceiling: the same number of argon2 verifications done
     directly in threads at the same concurrency, the floor cost of a login;
   - client-credential tokens (client look-up, hash-chained audit record, ES256 signature);
     ceiling: the same statements through raw asyncpg plus the signature.
2. Runs a second service (mch_common.web.create_service_app + service_lifespan, identity's JWKS
   over HTTP, revocation watcher on identity's stream) and compares a route without auth with
   the same route behind require_scope. The verification fraction is the time one verify()
   takes over the time one authenticated request takes, for a reused token (the common case:
   a client keeps its token until it expires) and, as `fresh_token_fraction`, for a new token
   on every request (the worst case). Also raw verifications per second.

It creates and drops its own database and deletes its NATS streams.
"""

import argparse
import asyncio
import os
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pyotp
from fastapi import FastAPI
from sqlalchemy import insert

from mch_common.routes import ServiceRouter

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ceiling_pool, result_line, scratch_database

from identity.config import Settings
from identity.crypto import (
    SecretBox,
    _verify,
    hash_client_secret,
    hash_password,
)
from identity.main import create_app
from identity.terminals.models import Terminal
from identity.tokens.models import ServiceClient
from identity.users.models import User, UserRole
from mch_common.auth.deps import require_scope
from mch_common.auth.principal import Principal
from mch_common.db import asyncpg_dsn
from mch_common.events.bus import EventBus
from mch_common.migrations import upgrade_async
from mch_common.runtime import service_lifespan
from mch_common.settings import ServiceSettings
from mch_common.web import create_service_app
from mch_testing.app import serve_over_http

MIGRATIONS = Path(__file__).resolve().parent.parent / "services/identity/src/identity/migrations"
PASSWORD = "Bench-Passw0rd-2026"  # noqa: S105 - not a secret
TERMINAL = "BENCH-TERM-01"
CLIENT_SECRET = secrets.token_urlsafe(32)
TOTP_SECRET = pyotp.random_base32()
ISSUER = "http://identity.bench"


async def seed(app: FastAPI, settings: Settings, users: int) -> list[str]:
    """Users inserted directly (one argon2 hash shared): issuing is not what is measured."""
    box = SecretBox(settings.key_encryption_secret)
    password_hash = hash_password(PASSWORD)
    now = datetime.now(UTC)
    logins = [f"bench{i:05d}" for i in range(users)]
    async with app.state.sessions() as session, session.begin():
        session.add(Terminal(id=TERMINAL, name="bench", active=True, registered_by="bench"))
        session.add(
            ServiceClient(
                client_id="bench_client",
                name="bench",
                secret_hash=hash_client_secret(CLIENT_SECRET),
                scopes=["atena:person:read", "boshi:pregnancy:read"],
                active=True,
            )
        )
        rows = [
            {
                "id": uuid.uuid4(),
                "login_id": login,
                "display_name": login,
                "dept": "子育て支援課",
                "ward": None,
                "status": "active",
                "valid_from": now.date(),
                "password_hash": password_hash,
                "password_changed_at": now,
                "totp_secret_encrypted": box.encrypt(TOTP_SECRET.encode(), purpose=f"totp:{login}"),
                "failed_attempts": 0,
                "created_by": "bench",
            }
            for login in logins
        ]
        await session.execute(insert(User), rows)
        await session.execute(
            insert(UserRole), [{"user_id": r["id"], "role": "mch_staff"} for r in rows]
        )
    return logins


async def drive(
    work: Callable[[int], Awaitable[bool]], *, seconds: float, concurrency: int, limit: int
) -> tuple[float, int, int]:
    """`work(i)` from `concurrency` workers for `seconds` or `limit` calls: (rate, ok, failed)."""
    counter = iter(range(limit))
    ok = failed = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal ok, failed
        for i in counter:
            if time.perf_counter() >= deadline:
                return
            if await work(i):
                ok += 1
            else:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok / (time.perf_counter() - started), ok, failed


def probe_app(settings: ServiceSettings) -> FastAPI:
    router = ServiceRouter()

    @router.get("/plain")
    async def plain() -> dict[str, str]:
        return {"ok": "yes"}

    @router.get("/authed")
    async def authed(
        principal: Annotated[Principal, require_scope("boshi:pregnancy:read")],
    ) -> dict[str, str]:
        return {"ok": principal.sub}

    return create_service_app(
        service="probe",
        title="probe",
        description="bench",
        lifespan=service_lifespan(settings, stream_service="probe", configure_logs=False),
        routers=[router],
    )


async def run(args: argparse.Namespace) -> list[str]:
    namespace = f"bench{secrets.token_hex(3)}"
    nats_url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    lines: list[str] = []
    async with scratch_database("identity") as database_url:
        await upgrade_async(MIGRATIONS, database_url)
        common: dict[str, Any] = {
            "environment": "test",
            "database_url": database_url,
            "nats_url": nats_url,
            "event_namespace": namespace,
            "jwt_issuer": ISSUER,
            "log_level": "WARNING",
        }
        settings = Settings(**common, maintenance_interval_seconds=3600)
        app = create_app(settings)
        try:
            async with (
                serve_over_http(app) as url,
                httpx.AsyncClient(base_url=url, timeout=30) as http,
            ):
                logins = await seed(app, settings, args.users)
                code = pyotp.TOTP(TOTP_SECRET).now()

                async def login(i: int) -> bool:
                    r = await http.post(
                        "/oauth2/token",
                        data={
                            "grant_type": "password",
                            "username": logins[i],
                            "password": PASSWORD,
                            "totp": code,
                            "terminal_id": TERMINAL,
                        },
                    )
                    return r.status_code == 200

                # The same TOTP code all along: stay inside its validity window (3 steps).
                login_rate, login_ok, login_failed = await drive(
                    login, seconds=args.seconds, concurrency=args.concurrency, limit=len(logins)
                )
                hashed = hash_password(PASSWORD)

                async def argon2_only(i: int) -> bool:
                    return await asyncio.to_thread(_verify, hashed, PASSWORD)

                argon2_rate, _, _ = await drive(
                    argon2_only, seconds=3, concurrency=args.concurrency, limit=10**6
                )
                lines.append(
                    result_line(
                        "token_issue",
                        login_rate,
                        "tokens/s",
                        target=20,
                        ceiling=argon2_rate,
                        grant="password+totp+terminal",
                        ok=login_ok,
                        failed=login_failed,
                        concurrency=args.concurrency,
                        ceiling_is="argon2id verifications/s in threads, same concurrency",
                    )
                )

                async def client_token(i: int) -> bool:
                    r = await http.post(
                        "/oauth2/token",
                        data={"grant_type": "client_credentials"},
                        auth=("bench_client", CLIENT_SECRET),
                    )
                    return r.status_code == 200

                cc_rate, cc_ok, cc_failed = await drive(
                    client_token, seconds=args.seconds, concurrency=args.concurrency, limit=10**6
                )
                ring = app.state.identity.keyring
                claims = {"sub": "svc:x", "scope": "a b", "iat": 0, "exp": 1}

                async def sign_only(i: int) -> bool:
                    ring.sign({**claims, "jti": str(i)})
                    return True

                # Ceiling: the same database work (client look-up, hash-chained audit record
                # under the chain lock, commit) through raw asyncpg, plus the signature.
                pool = await ceiling_pool(asyncpg_dsn(database_url), args.concurrency)

                async def raw_client_token(i: int) -> bool:
                    async with pool.acquire() as conn, conn.transaction():
                        await conn.fetchrow(
                            "SELECT secret_hash, scopes FROM service_clients WHERE client_id = $1",
                            "bench_client",
                        )
                        await conn.execute("SELECT pg_advisory_xact_lock(7340017)")
                        prev = await conn.fetchval(
                            "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1"
                        )
                        await conn.execute(
                            "INSERT INTO audit_log (occurred_at, actor, action, outcome, detail,"
                            " prev_hash, hash) VALUES (now(), 'svc:bench_client',"
                            " 'identity.client.token', 'success', '{}', $1, $2)",
                            prev or "0" * 64,
                            secrets.token_hex(32),
                        )
                    ring.sign({**claims, "jti": str(i)})
                    return True

                try:
                    sign_rate, _, _ = await drive(
                        raw_client_token, seconds=3, concurrency=args.concurrency, limit=10**6
                    )
                finally:
                    await pool.close()
                lines.append(
                    result_line(
                        "token_issue",
                        cc_rate,
                        "tokens/s",
                        target=100,
                        ceiling=sign_rate,
                        grant="client_credentials",
                        ok=cc_ok,
                        failed=cc_failed,
                        concurrency=args.concurrency,
                        ceiling_is="same SQL via raw asyncpg + ES256 signature, same concurrency",
                    )
                )

                # --- verification in another service ----------------------------------------
                probe_settings = ServiceSettings(
                    **common,
                    service_name="probe",
                    jwks_url=f"{url}/.well-known/jwks.json",
                    jwt_audience=settings.jwt_audience,
                )
                probe = probe_app(probe_settings)
                now = int(time.time())
                base_claims: dict[str, Any] = {
                    "iss": ISSUER,
                    "aud": settings.jwt_audience,
                    "sub": "svc:bench_client",
                    "client_id": "bench_client",
                    "tenant": settings.tenant,
                    "ward": None,
                    "roles": [],
                    "scope": "atena:person:read boshi:pregnancy:read",
                    "iat": now,
                    "exp": now + 600,
                }
                fresh = [
                    ring.sign({**base_claims, "jti": uuid.uuid4().hex}) for i in range(args.tokens)
                ]
                async with probe.router.lifespan_context(probe):
                    transport = httpx.ASGITransport(app=probe)
                    async with httpx.AsyncClient(
                        transport=transport, base_url="http://probe"
                    ) as pc:
                        verifier = probe.state.verifier
                        await verifier.verify(fresh[0])  # fetch the JWKS once

                        async def plain(i: int) -> bool:
                            return (await pc.get("/plain")).status_code == 200

                        async def authed_fresh(i: int) -> bool:
                            r = await pc.get(
                                "/authed", headers={"authorization": f"Bearer {fresh[i]}"}
                            )
                            return r.status_code == 200

                        async def authed_cached(i: int) -> bool:
                            r = await pc.get(
                                "/authed", headers={"authorization": f"Bearer {fresh[0]}"}
                            )
                            return r.status_code == 200

                        n = len(fresh) - 1
                        plain_rate, _, _ = await drive(plain, seconds=3, concurrency=1, limit=n)
                        fresh_rate, f_ok, f_failed = await drive(
                            authed_fresh, seconds=3, concurrency=1, limit=n
                        )
                        cached_rate, _, _ = await drive(
                            authed_cached, seconds=3, concurrency=1, limit=n
                        )

                        async def verify_reused(i: int) -> bool:
                            await verifier.verify(fresh[0])
                            return True

                        reused_verify_rate, _, _ = await drive(
                            verify_reused, seconds=2, concurrency=1, limit=n
                        )
                        verifier.cache_size = 0  # raw verification, nothing remembered

                        async def verify_only(i: int) -> bool:
                            await verifier.verify(fresh[i])
                            return True

                        verify_rate, _, _ = await drive(
                            verify_only, seconds=2, concurrency=1, limit=n
                        )
                        public_key = ring.public_key(ring.signing_kid)

                        async def pyjwt_only(i: int) -> bool:
                            jwt.decode(
                                fresh[i],
                                public_key,
                                algorithms=["ES256"],
                                audience=settings.jwt_audience,
                            )
                            return True

                        pyjwt_rate, _, _ = await drive(
                            pyjwt_only, seconds=2, concurrency=1, limit=n
                        )
                lines.append(
                    result_line(
                        "token_verify_overhead",
                        # Time verifying / time of the whole authenticated request, for the
                        # common case: a client reusing its token until it expires.
                        cached_rate / reused_verify_rate,
                        "fraction",
                        target=0.05,
                        fresh_token_fraction=round(fresh_rate / verify_rate, 4),
                        plain_req_per_s=round(plain_rate, 1),
                        authed_fresh_token_req_per_s=round(fresh_rate, 1),
                        authed_reused_token_req_per_s=round(cached_rate, 1),
                        verify_reused_per_s=round(reused_verify_rate, 1),
                        verify_fresh_per_s=round(verify_rate, 1),
                        auth_dependency_fraction=round(1 - cached_rate / plain_rate, 4),
                        failed=f_failed,
                        ok=f_ok,
                    )
                )
                lines.append(
                    result_line(
                        "token_verify",
                        verify_rate,
                        "tokens/s",
                        target=1000,
                        ceiling=pyjwt_rate,
                        ceiling_is="bare PyJWT ES256 decode, same tokens, one core",
                    )
                )
        finally:
            bus = await EventBus.connect(nats_url, namespace=namespace, name="bench-cleanup")
            await bus.delete_namespace()
            await bus.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=20000)
    args = parser.parse_args()
    for line in asyncio.run(run(args)):
        print(line)


if __name__ == "__main__":
    main()
