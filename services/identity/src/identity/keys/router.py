"""Signing-key rotation (scope identity:key:rotate). The JWKS itself is in tokens.router."""

from datetime import timedelta

from fastapi import APIRouter
from pydantic import BaseModel

from identity.deps import Context, KeyRotator, Sessions
from identity.keys import service
from mch_common.db import unit_of_work
from mch_common.work import UnitOfWork

router = APIRouter(prefix="/admin/keys", tags=["signing keys"])


class RotationOut(BaseModel):
    kid: str
    published_kids: list[str]


@router.post("/rotate", response_model=RotationOut, summary="Start signing with a new key")
async def rotate(sessions: Sessions, ctx: Context, actor: KeyRotator) -> RotationOut:
    overlap = timedelta(
        seconds=max(ctx.settings.access_token_ttl_seconds, ctx.settings.service_token_ttl_seconds)
    )
    async with unit_of_work(sessions) as session:
        key = await service.rotate_signing_key(session, box=ctx.box, overlap=overlap)
        UnitOfWork.of(session).record_access(
            actor,
            action="identity.key.rotate",
            target_type="signing_key",
            target_id=key.kid,
        )
        published = [k.kid for k in await service.published_keys(session)]
    # Reloaded after the commit: signing switches only once the new key is durable.
    await ctx.keyring.reload(sessions)
    return RotationOut(kid=key.kid, published_kids=published)
