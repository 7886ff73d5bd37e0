"""Signing-key rotation (scope identity:key:rotate). The JWKS itself is in tokens.router."""

from identity.deps import Context, KeyRotator, Sessions
from identity.keys import service
from identity.keys.schemas import RotationOut
from mch_common.routes import ServiceRouter

router = ServiceRouter(prefix="/admin/keys", tags=["signing keys"])


@router.post("/rotate", summary="Start signing with a new key")
async def rotate(sessions: Sessions, ctx: Context, actor: KeyRotator) -> RotationOut:
    rotation = await service.rotate_now(
        sessions, settings=ctx.settings, box=ctx.box, keyring=ctx.keyring, actor=actor
    )
    return RotationOut(kid=rotation.kid, published_kids=rotation.published_kids)
