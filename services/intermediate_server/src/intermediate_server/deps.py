"""Annotated dependency aliases and the scopes of the intermediate server."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from national_hub.hub import NationalHub
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from intermediate_server.codes.cipher import CodeCipher
from intermediate_server.config import Settings
from intermediate_server.exchange.provider import Provider
from intermediate_server.tenancy import enter_tenant
from mch_common.audit import read_whole_log
from mch_common.auth.deps import CurrentPrincipal, require_any_scope, require_scope
from mch_common.auth.principal import Principal
from mch_common.web import Session

CODE_WRITE = "ims:code:write"
REPLICA_WRITE = "ims:replica:write"
INQUIRE = "ims:inquire"
APPROVE = "ims:approve"
RECORDS_READ = "ims:records:read"
DISCLOSURE_EXPORT = "ims:disclosure:export"  # boshi_core's collector (issue 19)
AUDIT_READ = "ims:audit:read"
SYSTEM_ADMIN = "ims:system:admin"  # a municipality's system management: its own tenant
PLATFORM_ADMIN = "ims:platform:admin"  # the platform operator's: every tenant, the audit chain

CodeWriter = Annotated[Principal, require_scope(CODE_WRITE)]
ReplicaWriter = Annotated[Principal, require_scope(REPLICA_WRITE)]
Inquirer = Annotated[Principal, require_scope(INQUIRE)]
Approver = Annotated[Principal, require_scope(APPROVE)]
RecordsReader = Annotated[Principal, require_scope(RECORDS_READ)]
DisclosureExporter = Annotated[Principal, require_scope(DISCLOSURE_EXPORT)]
SystemAdmin = Annotated[Principal, require_any_scope(SYSTEM_ADMIN, PLATFORM_ADMIN)]
PlatformAdmin = Annotated[Principal, require_scope(PLATFORM_ADMIN)]


def platform_view(principal: Principal) -> bool:
    """Whether the caller sees the whole platform (else only its own municipality)."""
    return PLATFORM_ADMIN in principal.scopes


async def _tenant_session(session: Session, principal: CurrentPrincipal) -> AsyncSession:
    """The request's transaction, walled to the caller's municipality before anything runs."""
    await enter_tenant(session, principal.tenant)
    return session


async def system_session(session: Session, principal: CurrentPrincipal) -> AsyncSession:
    """The request's transaction as the caller may see the platform: the whole of it for the
    platform operator, else walled to the caller's municipality (the audit log too)."""
    if platform_view(principal):
        await read_whole_log(session)
    else:
        await enter_tenant(session, principal.tenant)
    return session


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def network_sessions(state: Any) -> async_sessionmaker[AsyncSession]:
    """The hub's and the provider's sessions: the network pool (main._with_network_pool)
    while requests use the app's own sessions; a test's sessions when it put its own."""
    runtime = getattr(state, "runtime", None)
    if runtime is not None and state.sessions is runtime.sessions:
        sessions: async_sessionmaker[AsyncSession] = state.network_sessions
        return sessions
    test_sessions: async_sessionmaker[AsyncSession] = state.sessions
    return test_sessions


def _hub_of(state: Any) -> NationalHub:
    """The national hub. In-process here; tests may put another on `app.state.hub`. Kept
    while its session factory is the same one (the hub caches its permission list)."""
    hub: NationalHub | None = getattr(state, "hub", None)
    if hub is not None:
        return hub
    sessions = network_sessions(state)
    kept: tuple[object, NationalHub] | None = getattr(state, "hub_of_sessions", None)
    if kept is None or kept[0] is not sessions:
        settings: Settings = state.settings
        kept = (sessions, NationalHub(sessions=sessions, keys=settings.hub_keys))
        state.hub_of_sessions = kept
    return kept[1]


def _cipher_of(state: Any) -> CodeCipher:
    cipher: CodeCipher | None = getattr(state, "code_cipher", None)
    if cipher is None:
        settings: Settings = state.settings
        key_id, key, index_key = settings.code_keys
        cipher = CodeCipher(key_id=key_id, key=key, index_key=index_key)
        state.code_cipher = cipher
    return cipher


def _provider_of(state: Any, hub: NationalHub, cipher: CodeCipher) -> Provider:
    """The provider side of this platform, which the hub routes inquiries to; kept like the
    hub (it caches its copy of the permission list)."""
    sessions = network_sessions(state)
    kept: tuple[object, NationalHub, Provider] | None = getattr(state, "provider_of", None)
    if kept is None or kept[0] is not sessions or kept[1] is not hub:
        settings: Settings = state.settings
        provider = Provider(
            sessions=sessions,
            hub_key=hub.public_key,
            cipher=cipher,
            approval_window=timedelta(hours=settings.approval_hours),
        )
        kept = (sessions, hub, provider)
        state.provider_of = kept
    return kept[2]


@dataclass(frozen=True)
class Network:
    """What an exchange goes through: the hub, this platform's provider side and the 符号
    cipher, as one dependency (FastAPI spends about 30 µs of CPU per dependency a request
    solves)."""

    hub: NationalHub
    provider: Provider
    cipher: CodeCipher


async def _hub(request: Request) -> NationalHub:
    return _hub_of(request.app.state)


async def _network(request: Request) -> Network:
    state = request.app.state
    hub, cipher = _hub_of(state), _cipher_of(state)
    return Network(hub=hub, provider=_provider_of(state, hub, cipher), cipher=cipher)


TenantSession = Annotated[AsyncSession, Depends(_tenant_session)]
SystemSession = Annotated[AsyncSession, Depends(system_session)]
AppSettings = Annotated[Settings, Depends(_settings)]
Hub = Annotated[NationalHub, Depends(_hub)]
NetworkGateway = Annotated[Network, Depends(_network)]
