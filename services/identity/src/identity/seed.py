"""`python -m identity.seed`: demo staff for every role, terminals and service clients.

Idempotent: existing rows are kept (and their TOTP secrets printed again). Dev only: the demo
password is public and the command refuses to run outside dev/test.
"""

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.clients.simulated import FUKUOKA_BOSHI_CORE, tenant_of_client
from identity.config import Settings
from identity.context import IdentityContext
from identity.crypto import SecretBox, hash_client_secret
from identity.keys.service import KeyRing
from identity.maintenance import ensure_keys
from identity.terminals.models import Terminal
from identity.tokens.models import ServiceClient
from identity.users import repository
from identity.users.accounts import issue_user
from mch_common.auth.principal import Principal
from mch_common.cli import exit_on_refusal
from mch_common.db import create_engine, session_factory, unit_of_work
from mch_common.demo_files import write_demo_file
from mch_common.lgcode import KITAKYUSHU_WARDS
from mch_common.migrations import upgrade_async
from mch_common.settings import DEV_SECRET_MARKER

DEMO_PASSWORD = "Demo-Passw0rd-2026"  # noqa: S105 - not a secret
SEED_ACTOR = Principal(sub="system:seed", tenant="401005", scopes=frozenset())
MIGRATIONS = Path(__file__).parent / "migrations"

# login_id, display name, department, ward (None = city-wide), roles
DEMO_STAFF: list[tuple[str, str, str, str | None, list[str]]] = [
    ("kosodate01", "子育て 花子", "子育て支援課", None, ["mch_staff"]),
    ("yahatanishi01", "八幡 西子", "八幡西区保健福祉課", "401099", ["ward_mch_staff"]),
    ("kokurakita01", "小倉 北男", "小倉北区保健福祉課", "401064", ["ward_mch_staff"]),
    ("center01", "家庭 守", "こども家庭センター", None, ["center_staff"]),
    ("eapp01", "電子 審査", "子育て支援課", None, ["eapp_reviewer"]),
    ("mynumber01", "番号 利用", "子育て支援課", None, ["mynumber_officer"]),
    ("registry01", "住民 記録", "小倉北区市民課", "401064", ["registry_clerk"]),
    ("useradmin01", "利用者 管理", "情報政策課", None, ["user_admin"]),
    ("auditor01", "監査 確認", "監査課", None, ["auditor"]),
    ("netops01", "網 運用", "情報政策課", None, ["network_operator"]),
    ("rules01", "基準 管理", "子育て支援課", None, ["mch_rules_admin"]),
]

# id, name, ward
DEMO_TERMINALS: list[tuple[str, str, str | None]] = [
    ("HQ-KOSODATE-01", "本庁 子育て支援課 端末1", None),
    ("HQ-JOHO-01", "本庁 情報政策課 端末1", None),
    ("CENTER-01", "こども家庭センター 端末1", None),
    *[
        (f"WARD-{code}-01", f"{name} 保健福祉課 端末1", code)
        for code, name in KITAKYUSHU_WARDS.items()
    ],
]

# Every service's default ServiceSettings.client_secret, so `make run` works unconfigured.
DEMO_CLIENT_SECRET = f"{DEV_SECRET_MARKER}-client-secret"
DEMO_CLIENTS: list[tuple[str, str, list[str]]] = [
    (
        "boshi_core",
        "母子保健システム",
        [
            "atena:person:read",
            "atena:mynumber:lookup",
            "immunization:status:read",
            # collecting a disclosure (開示請求) from every service
            "atena:disclosure:export",
            "immunization:disclosure:export",
            "eapp:disclosure:export",
            "ims:disclosure:export",
            "ims:inquire",
            "eapp:export:pull",
        ],
    ),
    ("atena", "宛名管理システム", ["ims:code:write"]),
    ("pittari_portal", "子育てワンストップサービス (national portal)", ["eapp:portal:deliver"]),
    (
        "e_application",
        "電子申請サービス",
        ["atena:person:read", "atena:mynumber:lookup", "boshi:pregnancy:write"],
    ),
    (
        "intermediate_server",
        "中間サーバー",
        [
            "atena:person:read",
            "atena:mynumber:lookup",
            "boshi:pregnancy:read",
            "boshi:checkup:read",
        ],
    ),
    ("immunization_bridge", "予防接種台帳連携", ["atena:person:read", "boshi:checkup:read"]),
    # Fukuoka City's boshi_core as the intermediate server sees it (clients/simulated.py):
    # its tokens are of Fukuoka's tenant, on the dev stack only.
    (
        FUKUOKA_BOSHI_CORE,
        "福岡市 母子保健システム (simulated)",
        ["ims:replica:write", "ims:disclosure:export"],
    ),
]
DEMO_LOGINS_FILE = "demo_logins.json"


@dataclass(frozen=True)
class DemoLogin:
    login_id: str
    roles: list[str]
    ward: str | None
    terminal: str
    totp_secret: str


def demo_terminal(ward: str | None) -> str:
    """The demo terminal of a ward's staff (headquarters for city-wide staff)."""
    return f"WARD-{ward}-01" if ward else "HQ-KOSODATE-01"


async def seed_demo(
    sessions: async_sessionmaker[AsyncSession], ctx: IdentityContext
) -> list[DemoLogin]:
    logins: list[DemoLogin] = []
    async with unit_of_work(sessions) as session:
        for terminal_id, name, ward in DEMO_TERMINALS:
            if await session.get(Terminal, terminal_id) is None:
                session.add(
                    Terminal(
                        id=terminal_id,
                        name=name,
                        ward=ward,
                        active=True,
                        registered_by=SEED_ACTOR.sub,
                    )
                )
        for client_id, name, scopes in DEMO_CLIENTS:
            if await session.get(ServiceClient, client_id) is None:
                session.add(
                    ServiceClient(
                        client_id=client_id,
                        name=name,
                        secret_hash=hash_client_secret(DEMO_CLIENT_SECRET),
                        scopes=scopes,
                        active=True,
                    )
                )
        for login_id, display_name, dept, ward, roles in DEMO_STAFF:
            user = await repository.get_user_by_login(session, login_id)
            if user is None:
                issued = await issue_user(
                    session,
                    ctx,
                    actor=SEED_ACTOR,
                    login_id=login_id,
                    display_name=display_name,
                    dept=dept,
                    ward=ward,
                    roles=roles,
                    valid_from=None,
                    valid_until=None,
                    password=DEMO_PASSWORD,
                    # Demo logins work at once; a real issue makes its owner choose one.
                    password_must_change=False,
                )
                secret = issued.totp_secret
            else:
                secret = ctx.box.decrypt(
                    user.totp_secret_encrypted, purpose=f"totp:{login_id}"
                ).decode()
            logins.append(DemoLogin(login_id, roles, ward, demo_terminal(ward), secret))
    return logins


def write_demo_logins(settings: Settings, logins: list[DemoLogin]) -> Path:
    """The demo staff's logins as their authenticators hold them (the TOTP secret) and the
    service clients', for `make demo`, which logs in as staff do; owner-only."""
    return write_demo_file(
        DEMO_LOGINS_FILE,
        {
            "password": DEMO_PASSWORD,
            "staff": [
                {
                    "login_id": d.login_id,
                    "roles": d.roles,
                    "terminal": d.terminal,
                    "totp_secret": d.totp_secret,
                }
                for d in logins
            ],
            "client_secret": DEMO_CLIENT_SECRET,
            "clients": {
                client_id: tenant_of_client(client_id, settings) for client_id, _, _ in DEMO_CLIENTS
            },
        },
    )


def _report(settings: Settings, logins: list[DemoLogin], written: Path) -> str:
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        "identity demo data is ready (dev only).",
        f"  password of every demo user: {DEMO_PASSWORD}",
        "  one-time code now:           .venv/bin/python -m identity.totp <TOTP secret>",
        "",
        f"  {'user id':<15} {'roles':<18} {'ward':<7} {'terminal':<20} TOTP secret",
    ]
    for d in logins:
        lines.append(
            f"  {d.login_id:<15} {' '.join(d.roles):<18} {d.ward or 'city':<7} "
            f"{d.terminal:<20} {d.totp_secret}"
        )
    first = logins[0]
    lines += [
        "",
        "  log in:",
        f"    curl -s {base}/oauth2/token -d grant_type=password -d username={first.login_id} \\",
        f"      -d password={DEMO_PASSWORD} -d terminal_id={first.terminal} \\",
        f"      -d totp=$(.venv/bin/python -m identity.totp {first.totp_secret})",
        f"  service clients, each with client_secret {DEMO_CLIENT_SECRET}:",
        f"    {', '.join(c for c, _, _ in DEMO_CLIENTS if c != FUKUOKA_BOSHI_CORE)}",
        f"    {FUKUOKA_BOSHI_CORE} (Fukuoka City's boshi_core, simulated: its tokens are of "
        f"tenant {tenant_of_client(FUKUOKA_BOSHI_CORE, settings)}, for the intermediate server)",
        f"    curl -s {base}/oauth2/token -d grant_type=client_credentials "
        f"-d client_id=boshi_core -d client_secret={DEMO_CLIENT_SECRET}",
        f"  the same logins, for make demo (owner-only): {written}",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    with exit_on_refusal("python -m identity.seed"):
        return asyncio.run(seed())


async def seed() -> int:
    settings = Settings()
    if settings.environment not in {"dev", "test"}:
        sys.stderr.write("identity.seed creates demo credentials: dev and test only\n")
        return 2
    await upgrade_async(MIGRATIONS, settings.database_url)
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        sessions = session_factory(engine)
        box = SecretBox(settings.key_encryption_secret)
        ctx = IdentityContext(settings=settings, box=box, keyring=KeyRing(box))
        await ensure_keys(sessions, ctx)
        logins = await seed_demo(sessions, ctx)
    finally:
        await engine.dispose()
    written = write_demo_logins(settings, logins)
    sys.stdout.write(_report(settings, logins, written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
