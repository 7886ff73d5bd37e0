"""Cross-service tests: identity, atena, the immunization bridge and boshi_core together, no
fakes.

Each service runs its real app (lifespan, outbox relay, consumers, JWT verification and the
revocation watcher) under uvicorn on a loopback port, on ITS OWN database (created and migrated
here, dropped at the end of the session), all sharing this session's NATS namespace. Identity
signs every token; the others fetch its JWKS over HTTP, and boshi_core gets its
client-credentials tokens from identity's token endpoint and calls atena's My Number lookup
and the bridge's vaccination statuses. The bridge keeps its child register from atena's events.

Every HTTP exchange any of the three answers is recorded (method, URL, status, response headers
and body) by a pure ASGI middleware, so tests can inspect the service-to-service traffic too.
"""

import asyncio
import importlib.util
import re
import sys
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote

import httpx
import pyotp
import pytest
from faker import Faker
from fastapi import FastAPI
from sqlalchemy import select, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import atena
import identity.seed
import immunization_bridge
from atena.config import Settings as AtenaSettings
from atena.main import create_app as create_atena
from atena.testing import person_body
from boshi_core.config import Settings as BoshiSettings
from boshi_core.main import create_app as create_boshi
from boshi_core.migrate import MIGRATIONS as BOSHI_MIGRATIONS
from boshi_core.testsupport import notification
from identity.config import Settings as IdentitySettings
from identity.main import create_app as create_identity
from identity.seed import DEMO_PASSWORD, DemoLogin, seed_demo
from identity.totp import PERIOD, VALID_WINDOW
from immunization_bridge.config import Settings as BridgeSettings
from immunization_bridge.main import create_app as create_bridge
from mch_common.audit import GENESIS_HASH, AuditRecord, read_whole_log
from mch_common.dates import today_tokyo
from mch_common.events.bus import EventBus
from mch_common.mynumber import contains_my_number, generate_my_number
from mch_testing.app import serve_over_http
from mch_testing.plugin import DatabaseFactory
from mch_testing.waiting import eventually

ISSUER = "http://identity.e2e.test"
JWKS_PATH = "/.well-known/jwks.json"
KOKURA_KITA = "401064"
YAHATA_NISHI = "401099"
READ_MODEL_TIMEOUT_S = 10.0
# The header a test sets on the one request whose answer may show a My Number in clear.
UNMASKED_READ_MARK = "e2e-explicit-unmasked-read"


# --- what the services answered ---------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    service: str
    method: str
    url: str  # path and query string as requested (still percent-encoded)
    status: int
    correlation_id: str | None
    response_headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def unmasked_read(self) -> bool:
        return self.correlation_id == UNMASKED_READ_MARK


@dataclass
class HttpRecorder:
    exchanges: list[Exchange] = field(default_factory=list)

    def since(self, mark: int) -> list[Exchange]:
        return self.exchanges[mark:]


class RecordingMiddleware:
    """Pure ASGI: records every HTTP exchange of the app it wraps (outermost middleware)."""

    def __init__(self, app: ASGIApp, *, service: str, recorder: HttpRecorder) -> None:
        self.app = app
        self.service = service
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        url = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
        incoming = dict(scope["headers"]).get(b"x-correlation-id")
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def recording_send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.recorder.exchanges.append(
                Exchange(
                    service=self.service,
                    method=scope["method"],
                    url=url,
                    status=status,
                    correlation_id=incoming.decode("latin-1") if incoming else None,
                    response_headers=tuple(
                        (k.decode("latin-1"), v.decode("latin-1")) for k, v in headers
                    ),
                    body=b"".join(chunks),
                )
            )


# --- looking for My Numbers ---------------------------------------------------------------------

# SHA-256 digests, token ids and the like: hexadecimal, at least 32 characters, with a letter;
# and PostgreSQL's text form of bytes (`\x0a1b...`: ciphertexts, encrypted keys). A 12-digit
# run inside one is part of a digest or of random bytes, not a number anybody typed; the
# synthetic numbers themselves are still searched for as plain substrings everywhere.
# A PDF's own dates (`/CreationDate (D:20261202145512Z)`, ISO 32000-1 7.9.4) are fourteen
# digits, whose 12-digit windows pass the check digit in about one PDF in four.
_DIGEST = re.compile(
    r"\\+x[0-9a-fA-F]+"
    r"|(?<![0-9A-Za-z])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{32,}(?![0-9A-Za-z])"
    r"|\(D:\d{14}"
)


def my_number_findings(text_: str, numbers: Iterable[str]) -> list[str]:
    """Why `text_` shows a My Number (empty when it does not): one of the synthetic `numbers`
    itself, or any 12-digit run that passes the check digit (mch_common's
    contains_my_number). Percent-encoded text is searched decoded as well."""
    findings: set[str] = set()
    for candidate in {text_, unquote(text_)}:
        if any(number in candidate for number in numbers):
            findings.add("a synthetic My Number of this test")
        # The audit chain starts from a hash of 64 zeros, whose 12-digit windows pass the
        # check digit: a constant of the chain, not data.
        scanned = _DIGEST.sub("<digest>", candidate.replace(GENESIS_HASH, "<genesis>"))
        if contains_my_number(scanned):
            findings.add("a 12-digit run with a valid My Number check digit")
    return sorted(findings)


# --- the running stack ---------------------------------------------------------------------------


@dataclass
class Stack:
    identity_app: FastAPI
    atena_app: FastAPI
    boshi_app: FastAPI
    identity: httpx.AsyncClient
    atena: httpx.AsyncClient
    boshi: httpx.AsyncClient
    logins: dict[str, DemoLogin]
    recorder: HttpRecorder
    bridge_app: FastAPI
    bridge: httpx.AsyncClient
    _last_step: dict[str, int] = field(default_factory=dict)

    @property
    def apps(self) -> dict[str, FastAPI]:
        return {
            "identity": self.identity_app,
            "atena": self.atena_app,
            "boshi": self.boshi_app,
            "bridge": self.bridge_app,
        }

    async def next_code(self, login_id: str) -> str:
        """A code for a time step this user has not used yet (identity refuses a replayed step,
        and accepts one step either side of now)."""
        secret = self.logins[login_id].totp_secret
        while True:
            now = time.time()
            current = int(now // PERIOD)
            step = max(current, self._last_step.get(login_id, current - 1) + 1)
            if step <= current + VALID_WINDOW:
                self._last_step[login_id] = step
                return pyotp.TOTP(secret, interval=PERIOD).at(step * PERIOD)
            await asyncio.sleep((step - VALID_WINDOW) * PERIOD - now + 0.05)

    def current_code(self, login_id: str) -> str:
        """The code of now, without claiming its time step (for logins meant to fail)."""
        return pyotp.TOTP(self.logins[login_id].totp_secret, interval=PERIOD).now()

    async def login(
        self, login_id: str, *, code: str | None = None, password: str = DEMO_PASSWORD
    ) -> httpx.Response:
        """Password + TOTP on the user's registered terminal, over HTTP."""
        return await self.identity.post(
            "/oauth2/token",
            data={"grant_type": "password", **await self._credentials(login_id, code, password)},
        )

    async def change_password(
        self,
        login_id: str,
        new_password: str,
        *,
        code: str | None = None,
        password: str = DEMO_PASSWORD,
    ) -> httpx.Response:
        """The staff member's own change, authenticated as at login."""
        return await self.identity.post(
            "/oauth2/password",
            data={
                "new_password": new_password,
                **await self._credentials(login_id, code, password),
            },
        )

    async def _credentials(self, login_id: str, code: str | None, password: str) -> dict[str, str]:
        return {
            "username": login_id,
            "password": password,
            "totp": code if code is not None else await self.next_code(login_id),
            "terminal_id": self.logins[login_id].terminal,
        }

    async def token(self, login_id: str) -> str:
        response = await self.login(login_id)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def audit(self, service: str, **where: str) -> list[AuditRecord]:
        """A service's access log (its own database), oldest first."""
        stmt = select(AuditRecord).order_by(AuditRecord.seq)
        for column, value in where.items():
            stmt = stmt.where(getattr(AuditRecord, column) == value)
        async with self.apps[service].state.sessions() as session:
            await read_whole_log(session)  # past a tenant wall (the intermediate server's)
            return list((await session.execute(stmt)).scalars())

    async def outboxes_drained(self, within: float = 10.0) -> None:
        """Wait until every service's relay has published all its committed events."""

        async def pending() -> int:
            total = 0
            for app in self.apps.values():
                async with app.state.sessions() as session:
                    total += (
                        await session.execute(
                            text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                        )
                    ).scalar_one()
            return total

        await eventually(pending, lambda n: n == 0, within=within, what="outboxes drained")

    async def text_of_tables(self, service: str, *, skip: frozenset[str] = frozenset()) -> str:
        """Every row of every table of a service's database, as text."""
        async with self.apps[service].state.sessions() as session:
            tables = (
                await session.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            ).scalars()
            parts: list[str] = []
            for table in tables:
                if table in skip:
                    continue
                rows = await session.execute(text(f'SELECT t::text FROM "{table}" t'))
                parts.extend(f"{table}: {row}" for row in rows.scalars())
        return "\n".join(parts)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
async def stack(
    database_factory: DatabaseFactory,
    test_database_name: str,
    nats_url: str,
    event_namespace: str,
    bus: EventBus,  # torn down after the stack: it deletes this namespace's streams
) -> AsyncIterator[Stack]:
    common: dict[str, Any] = {
        "environment": "test",
        "nats_url": nats_url,
        "event_namespace": event_namespace,
        "jwt_issuer": ISSUER,
        "log_level": "INFO",
    }
    recorder = HttpRecorder()

    identity_db = await database_factory.create(
        f"{test_database_name}_identity", identity.seed.MIGRATIONS
    )
    identity_app = create_identity(
        IdentitySettings(**common, database_url=identity_db, maintenance_interval_seconds=3600)
    )
    identity_app.add_middleware(RecordingMiddleware, service="identity", recorder=recorder)
    async with serve_over_http(identity_app) as identity_url:
        logins = await seed_demo(identity_app.state.runtime.sessions, identity_app.state.identity)
        jwks_url = f"{identity_url}{JWKS_PATH}"

        atena_db = await database_factory.create(
            f"{test_database_name}_atena", Path(atena.__file__).parent / "migrations"
        )
        atena_app = create_atena(AtenaSettings(**common, database_url=atena_db, jwks_url=jwks_url))
        atena_app.add_middleware(RecordingMiddleware, service="atena", recorder=recorder)
        bridge_db = await database_factory.create(
            f"{test_database_name}_bridge", Path(immunization_bridge.__file__).parent / "migrations"
        )
        bridge_app = create_bridge(
            BridgeSettings(**common, database_url=bridge_db, jwks_url=jwks_url)
        )
        bridge_app.add_middleware(RecordingMiddleware, service="bridge", recorder=recorder)
        async with (
            serve_over_http(atena_app) as atena_url,
            serve_over_http(bridge_app) as bridge_url,
        ):
            boshi_db = await database_factory.create(
                f"{test_database_name}_boshi", BOSHI_MIGRATIONS
            )
            boshi_app = create_boshi(
                BoshiSettings(
                    **common,
                    database_url=boshi_db,
                    jwks_url=jwks_url,
                    token_url=f"{identity_url}/oauth2/token",
                    client_id="boshi_core",
                    client_secret=identity.seed.DEMO_CLIENT_SECRET,
                    atena_url=atena_url,
                    immunization_url=bridge_url,
                )
            )
            boshi_app.add_middleware(RecordingMiddleware, service="boshi", recorder=recorder)
            async with (
                serve_over_http(boshi_app) as boshi_url,
                httpx.AsyncClient(base_url=identity_url, timeout=10) as identity_http,
                httpx.AsyncClient(base_url=atena_url, timeout=10) as atena_http,
                httpx.AsyncClient(base_url=boshi_url, timeout=10) as boshi_http,
                httpx.AsyncClient(base_url=bridge_url, timeout=10) as bridge_http,
            ):
                yield Stack(
                    identity_app=identity_app,
                    atena_app=atena_app,
                    boshi_app=boshi_app,
                    identity=identity_http,
                    atena=atena_http,
                    boshi=boshi_http,
                    logins={d.login_id: d for d in logins},
                    recorder=recorder,
                    bridge_app=bridge_app,
                    bridge=bridge_http,
                )


# --- the window flow -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowResult:
    my_number: str
    person_no: str
    pregnancy_id: str
    handbook_no: str
    staff_sub: str
    refused_sub: str
    clerk_token: str
    staff_token: str


async def window_flow(stack: Stack, *, ward_staff: str, seed: int) -> FlowResult:
    """A resident is registered by the registry clerk, reaches boshi_core through JetStream, is
    found by My Number at the ward window, notifies her pregnancy, gets her handbook and a
    prenatal checkup; a ward staff member of another ward is refused her record."""
    fake = Faker("ja_JP")
    fake.seed_instance(seed)
    my_number = generate_my_number()

    # 1. The registry clerk of 小倉北区 signs in with password + TOTP on the ward's terminal.
    clerk = await stack.token("registry01")

    # 2. ...and registers a (synthetic) pregnant woman, My Number included, in atena.
    registered = await stack.atena.post(
        "/persons",
        json=person_body(
            family_name=fake.last_name(),
            given_name=fake.first_name_female(),
            family_name_kana=fake.last_kana_name(),
            given_name_kana=fake.first_kana_name_female(),
            my_number=my_number,
        ),
        headers=bearer(clerk),
    )
    assert registered.status_code == 201, registered.text
    person_no: str = registered.json()["person_no"]
    assert registered.json()["address"]["ward_code"] == KOKURA_KITA

    # 3. The ward's MCH staff signs in; boshi_core learns of the person from atena's event.
    staff = await stack.token(ward_staff)
    staff_headers = bearer(staff)
    me = await stack.identity.get("/oauth2/me", headers=staff_headers)
    assert me.status_code == 200, me.text
    staff_sub: str = me.json()["sub"]

    async def profile() -> httpx.Response:
        return await stack.boshi.get(f"/people/{person_no}", headers=staff_headers)

    visible = await eventually(
        profile,
        lambda r: r.status_code != 404,
        within=READ_MODEL_TIMEOUT_S,
        what="atena.person.registered in boshi_core's read model",
        interval=0.1,
    )
    assert visible.status_code == 200, visible.text
    assert visible.json()["person"]["ward_code"] == KOKURA_KITA

    # 4. At the window: search by My Number (in the body); boshi_core asks atena's lookup.
    found = await stack.boshi.post(
        "/people/search-by-my-number", json={"my_number": my_number}, headers=staff_headers
    )
    assert found.status_code == 200, found.text
    assert found.json()["person"]["person_no"] == person_no

    # 5. The pregnancy notification, the handbook, a prenatal checkup.
    opened = await stack.boshi.post(
        "/pregnancies",
        json=notification(person_no, ward=KOKURA_KITA, application_date=today_tokyo().isoformat()),
        headers=staff_headers,
    )
    assert opened.status_code == 201, opened.text
    pregnancy_id: str = opened.json()["id"]
    assert opened.json()["ward_code"] == KOKURA_KITA

    issued = await stack.boshi.post(
        f"/pregnancies/{pregnancy_id}/handbooks",
        json={"ward_code": KOKURA_KITA},
        headers=staff_headers,
    )
    assert issued.status_code == 201, issued.text
    handbooks = issued.json()["handbooks"]
    vouchers = issued.json()["vouchers"]
    assert len(handbooks) == 1
    assert len(vouchers) == 14
    handbook_no: str = handbooks[0]["handbook_no"]
    assert handbook_no.split("-")[1] == KOKURA_KITA[3:5]

    checkup = await stack.boshi.post(
        f"/pregnancies/{pregnancy_id}/checkups",
        json={
            "checkup_date": today_tokyo().isoformat(),
            "gestational_weeks": 10,
            "institution": "小倉レディースクリニック",
            "systolic_bp": 118,
            "diastolic_bp": 72,
            "urine_protein": "-",
            "urine_sugar": "-",
            "weight_kg": "55.2",
            "voucher_no": vouchers[0]["voucher_no"],
        },
        headers=staff_headers,
    )
    assert checkup.status_code == 201, checkup.text
    assert checkup.json()["risk_flags"] == []

    detail = await stack.boshi.get(f"/pregnancies/{pregnancy_id}", headers=staff_headers)
    assert detail.status_code == 200, detail.text
    assert [h["handbook_no"] for h in detail.json()["handbooks"]] == [handbook_no]
    assert len(detail.json()["checkups"]) == 1
    assert detail.json()["vouchers"][0]["used_on"] == today_tokyo().isoformat()

    # ...and the MCH staff of 八幡西区 may not read it.
    other = await stack.token("yahatanishi01")
    other_headers = bearer(other)
    refused = await stack.boshi.get(f"/pregnancies/{pregnancy_id}", headers=other_headers)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    # Another ward's resident is answered as nobody (a refusal tells no more than a miss).
    refused_profile = await stack.boshi.get(f"/people/{person_no}", headers=other_headers)
    assert refused_profile.status_code == 404, refused_profile.text
    other_me = await stack.identity.get("/oauth2/me", headers=other_headers)
    refused_sub: str = other_me.json()["sub"]

    return FlowResult(
        my_number=my_number,
        person_no=person_no,
        pregnancy_id=pregnancy_id,
        handbook_no=handbook_no,
        staff_sub=staff_sub,
        refused_sub=refused_sub,
        clerk_token=clerk,
        staff_token=staff,
    )


@pytest.fixture
def devstack() -> ModuleType:
    """tools/devstack.py (`make run`) loaded as a module, for tests of its parts."""
    path = Path(__file__).resolve().parent.parent / "tools" / "devstack.py"
    spec = importlib.util.spec_from_file_location("devstack", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module
