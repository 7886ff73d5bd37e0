"""Identity's tests run the real app (lifespan, NATS, relay) on committed data in the session's
database; every test leaves the tables it touched empty again (reference data stays)."""

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

import identity
from identity.config import Settings
from identity.context import IdentityContext
from identity.main import create_app
from identity.seed import DEMO_PASSWORD, SEED_ACTOR
from identity.terminals.models import Terminal
from identity.users.accounts import issue_user
from mch_common.audit import AuditRecord
from mch_common.db import unit_of_work
from mch_common.events.bus import EventBus
from mch_common.events.tables import OutboxEvent
from mch_testing.app import running_app
from mch_testing.plugin import empty_tables

PASSWORD = DEMO_PASSWORD
HQ_TERMINAL = "HQ-TEST-01"
WARD_TERMINAL = "WARD-401099-TEST"
KEEP = ("audit_log", "alembic_version", "roles", "role_scopes")


@pytest.fixture(scope="session")
def migrations_path() -> Path:
    return Path(identity.__file__).parent / "migrations"


@pytest.fixture
def settings(service_settings: dict[str, Any]) -> Settings:
    return Settings(
        **service_settings,
        maintenance_interval_seconds=3600,
        lockout_threshold=5,
        lockout_seconds=900,
        log_level="WARNING",
    )


@pytest.fixture(autouse=True)
async def clean_tables(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    await empty_tables(engine, keep=KEEP)


@dataclass
class Staff:
    user_id: str
    login_id: str
    totp_secret: str
    terminal: str = HQ_TERMINAL

    def code(self, *, offset_steps: int = 0) -> str:
        totp = pyotp.TOTP(self.totp_secret)
        return totp.at(time.time() + 30 * offset_steps)


class Identity:
    """The running app plus helpers that arrange data through the real service functions."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def ctx(self) -> IdentityContext:
        ctx: IdentityContext = self.app.state.identity
        return ctx

    async def add_terminals(self) -> None:
        async with unit_of_work(self.app.state.sessions) as session:
            for tid, ward in ((HQ_TERMINAL, None), (WARD_TERMINAL, "401099")):
                session.add(
                    Terminal(id=tid, name=tid, ward=ward, active=True, registered_by="test")
                )

    async def make_staff(
        self,
        login_id: str,
        roles: list[str],
        *,
        ward: str | None = None,
        dept: str = "子育て支援課",
        valid_from: date | None = None,
        valid_until: date | None = None,
    ) -> Staff:
        async with unit_of_work(self.app.state.sessions) as session:
            issued = await issue_user(
                session,
                self.ctx,
                actor=SEED_ACTOR,
                login_id=login_id,
                display_name=login_id,
                dept=dept,
                ward=ward,
                roles=roles,
                valid_from=valid_from,
                valid_until=valid_until,
                password=PASSWORD,
                password_must_change=False,  # a staff member who chose their own password
            )
        return Staff(
            str(issued.user.id),
            login_id,
            issued.totp_secret,
            WARD_TERMINAL if ward == "401099" else HQ_TERMINAL,
        )

    async def login(
        self,
        staff: Staff,
        *,
        password: str = PASSWORD,
        code: str | None = None,
        terminal: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        return await (client or self.client).post(
            "/oauth2/token",
            data={
                "grant_type": "password",
                "username": staff.login_id,
                "password": password,
                "totp": code if code is not None else staff.code(),
                "terminal_id": terminal or staff.terminal,
            },
        )

    async def token(self, staff: Staff, **kwargs: Any) -> str:
        response = await self.login(staff, **kwargs)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def audit(self, action: str) -> list[AuditRecord]:
        """The audit records of `action`, oldest first."""
        async with self.app.state.sessions() as session:
            rows = await session.execute(
                select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
            )
            return list(rows.scalars())

    async def event_types_about(self, subject: str) -> list[str]:
        """The types of the events queued about `subject` (a user or client id), in order."""
        async with self.app.state.sessions() as session:
            rows = await session.execute(
                select(OutboxEvent.subject)
                .where(OutboxEvent.envelope["subject"].astext == subject)
                .order_by(OutboxEvent.position)
            )
            return list(rows.scalars())

    async def admin(self, login_id: str = "admin01") -> dict[str, str]:
        staff = await self.make_staff(login_id, ["user_admin"])
        return {"authorization": f"Bearer {await self.token(staff)}"}


@pytest.fixture
async def idp(settings: Settings) -> AsyncIterator[Identity]:
    app = create_app(settings)
    async with running_app(app) as client:
        helper = Identity(app, client)
        await helper.add_terminals()
        yield helper


@pytest.fixture(scope="session", autouse=True)
def delete_test_streams(bus: EventBus) -> None:
    """The plugin's `bus` deletes this session's streams at its end; make sure it is used."""
