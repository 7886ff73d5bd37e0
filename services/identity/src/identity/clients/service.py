"""Service clients (client credentials): registered, given scopes, their secret rotated, and
deactivated by a platform operator. A secret is shown once and stored as a digest. Rotating
the secret or deactivating the client refuses every token it holds, here and (through the
event) in every service."""

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from identity.clients import repository
from identity.crypto import generate_client_secret, hash_client_secret
from identity.errors import AlreadyExists
from identity.events import ClientVerb, emit_client_event
from identity.tokens.models import ServiceClient
from identity.users import repository as users
from mch_common.auth.principal import Principal
from mch_common.errors import InvalidInput, NotFound
from mch_common.work import UnitOfWork

TARGET = "service_client"


async def _check_scopes(session: AsyncSession, scopes: Sequence[str]) -> list[str]:
    """Known scopes only (those some role grants: a typo is refused, not silently useless),
    and none of identity's own: a service does not administer users, keys or clients."""
    wanted = sorted(set(scopes))
    known = await users.granted_scopes(session)
    problems = [
        {"loc": ["scopes"], "msg": f"{s}: identity's own scopes are for staff", "type": "scope"}
        for s in wanted
        if s.startswith("identity:")
    ] + [
        {"loc": ["scopes"], "msg": f"{s}: no role grants this scope", "type": "scope"}
        for s in wanted
        if not s.startswith("identity:") and s not in known
    ]
    if problems:
        raise InvalidInput("Some scopes cannot be given to a service client.", errors=problems)
    return wanted


async def _load(session: AsyncSession, client_id: str) -> ServiceClient:
    client = await session.get(ServiceClient, client_id, with_for_update=True)
    if client is None:
        raise NotFound(f"no service client {client_id}")
    return client


async def register_client(
    session: AsyncSession, *, actor: Principal, client_id: str, name: str, scopes: Sequence[str]
) -> tuple[ServiceClient, str]:
    granted = await _check_scopes(session, scopes)
    if await session.get(ServiceClient, client_id) is not None:
        raise AlreadyExists(f"service client {client_id} is already registered")
    secret = generate_client_secret()
    client = ServiceClient(
        client_id=client_id,
        name=name,
        secret_hash=hash_client_secret(secret),
        scopes=granted,
        active=True,
    )
    session.add(client)
    await session.flush()
    await session.refresh(client, attribute_names=["created_at"])
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.client.register",
        target_type=TARGET,
        target_id=client_id,
        detail={"name": name, "scopes": granted},
    )
    return client, secret


async def _refuse_live_tokens(
    session: AsyncSession, tenant: str, client: ServiceClient, verb: ClientVerb
) -> None:
    # To the microsecond, as the tokens' `iat`: services refuse `iat < at`.
    client.tokens_valid_after = datetime.now(UTC)
    emit_client_event(
        session,
        tenant=tenant,
        client_id=client.client_id,
        verb=verb,
        at=client.tokens_valid_after.timestamp(),
    )


async def rotate_secret(
    session: AsyncSession, *, actor: Principal, tenant: str, client_id: str
) -> tuple[ServiceClient, str]:
    client = await _load(session, client_id)
    secret = generate_client_secret()
    client.secret_hash = hash_client_secret(secret)
    await _refuse_live_tokens(session, tenant, client, "secret_rotated")
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.client.rotate_secret",
        target_type=TARGET,
        target_id=client_id,
    )
    return client, secret


async def change_scopes(
    session: AsyncSession, *, actor: Principal, tenant: str, client_id: str, scopes: Sequence[str]
) -> ServiceClient:
    client = await _load(session, client_id)
    granted = await _check_scopes(session, scopes)
    before = list(client.scopes)
    client.scopes = granted
    if not set(before) <= set(granted):
        # A scope was taken away: tokens carrying it must not outlive the change.
        await _refuse_live_tokens(session, tenant, client, "scopes_changed")
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.client.change_scopes",
        target_type=TARGET,
        target_id=client_id,
        detail={"before": before, "after": granted},
    )
    return client


async def deactivate_client(
    session: AsyncSession, *, actor: Principal, tenant: str, client_id: str
) -> ServiceClient:
    client = await _load(session, client_id)
    if not client.active:
        raise InvalidInput(f"service client {client_id} is already deactivated")
    client.active = False
    await _refuse_live_tokens(session, tenant, client, "deactivated")
    UnitOfWork.of(session).record_access(
        actor,
        action="identity.client.deactivate",
        target_type=TARGET,
        target_id=client_id,
    )
    return client


async def list_clients(session: AsyncSession) -> Sequence[ServiceClient]:
    return await repository.list_clients(session)
