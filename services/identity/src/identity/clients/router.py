"""Service clients (scope identity:client:admin)."""

from identity.clients import service
from identity.clients.schemas import ClientIn, ClientOut, ClientScopesIn, ClientSecretOut
from identity.deps import SHOWS_SECRET, ClientAdmin, Context
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/admin/clients", tags=["service clients"])


@router.post("", status_code=201, dependencies=SHOWS_SECRET)
async def register(body: ClientIn, session: Session, actor: ClientAdmin) -> ClientSecretOut:
    client, secret = await service.register_client(
        session, actor=actor, client_id=body.client_id, name=body.name, scopes=body.scopes
    )
    return ClientSecretOut(client=ClientOut.model_validate(client), client_secret=secret)


@router.get("")
async def list_clients(session: Session, actor: ClientAdmin) -> list[ClientOut]:
    return [ClientOut.model_validate(c) for c in await service.list_clients(session)]


@router.post("/{client_id}/secret", dependencies=SHOWS_SECRET)
async def rotate_secret(
    client_id: str, session: Session, ctx: Context, actor: ClientAdmin
) -> ClientSecretOut:
    client, secret = await service.rotate_secret(
        session, actor=actor, tenant=ctx.settings.tenant, client_id=client_id
    )
    return ClientSecretOut(client=ClientOut.model_validate(client), client_secret=secret)


@router.put("/{client_id}/scopes")
async def change_scopes(
    client_id: str, body: ClientScopesIn, session: Session, ctx: Context, actor: ClientAdmin
) -> ClientOut:
    client = await service.change_scopes(
        session, actor=actor, tenant=ctx.settings.tenant, client_id=client_id, scopes=body.scopes
    )
    return ClientOut.model_validate(client)


@router.post("/{client_id}/deactivate")
async def deactivate(
    client_id: str, session: Session, ctx: Context, actor: ClientAdmin
) -> ClientOut:
    client = await service.deactivate_client(
        session, actor=actor, tenant=ctx.settings.tenant, client_id=client_id
    )
    return ClientOut.model_validate(client)
