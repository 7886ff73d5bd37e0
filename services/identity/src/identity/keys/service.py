"""Signing key lifecycle: create, rotate with overlap, publish as JWKS, keep an in-memory ring."""

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.config import Settings
from identity.crypto import SecretBox, b64url
from identity.keys import repository
from identity.keys.models import SigningKey
from mch_common.auth.principal import Principal
from mch_common.db import unit_of_work
from mch_common.work import UnitOfWork

ALGORITHM = "ES256"
# Verifiers may have clocks a little behind; keep retired keys published this much longer.
PUBLISH_LEEWAY = timedelta(seconds=120)


def _purpose(kid: str) -> str:
    return f"signing-key:{kid}"


def _new_key(box: SecretBox) -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    public_der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = b64url(hashlib.sha256(public_der).digest())[:22]
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey(
        kid=kid,
        alg=ALGORITHM,
        public_jwk=jwk,
        private_key_encrypted=box.encrypt(der, purpose=_purpose(kid)),
        created_at=datetime.now(UTC),
    )


async def ensure_active_key(
    session: AsyncSession, *, box: SecretBox, max_age: timedelta, overlap: timedelta
) -> SigningKey:
    """Make a key if there is none, rotate if the active one is too old. Idempotent."""
    await repository.lock_rotation(session)
    key = await repository.active_key(session)
    if key is None:
        key = _new_key(box)
        session.add(key)
        await session.flush()
        return key
    if datetime.now(UTC) - key.created_at >= max_age:
        return await _rotate_locked(session, box=box, overlap=overlap)
    return key


async def rotate_signing_key(
    session: AsyncSession, *, box: SecretBox, overlap: timedelta
) -> SigningKey:
    """Retire every active key and start signing with a new one.

    `overlap` is the longest lifetime of a token the retired key signed: its public key stays in
    the JWKS that long (plus a leeway), so tokens already issued stay valid until they expire.
    """
    await repository.lock_rotation(session)
    return await _rotate_locked(session, box=box, overlap=overlap)


async def _rotate_locked(
    session: AsyncSession, *, box: SecretBox, overlap: timedelta
) -> SigningKey:
    now = datetime.now(UTC)
    for old in await repository.active_keys(session):
        old.retired_at = now
        old.publish_until = now + overlap + PUBLISH_LEEWAY
    key = _new_key(box)
    key.created_at = now
    session.add(key)
    await session.flush()
    return key


async def published_keys(session: AsyncSession) -> list[SigningKey]:
    """The keys the JWKS lists: the active one and retired ones still verifying tokens."""
    return await repository.published_keys(session, now=datetime.now(UTC))


async def jwks(session: AsyncSession) -> dict[str, list[dict[str, Any]]]:
    return {"keys": [dict(k.public_jwk) for k in await published_keys(session)]}


def token_overlap(settings: Settings) -> timedelta:
    """The longest lifetime of a token a retiring key signed."""
    return timedelta(
        seconds=max(settings.access_token_ttl_seconds, settings.service_token_ttl_seconds)
    )


@dataclass(frozen=True)
class Rotation:
    kid: str
    published_kids: list[str]


async def rotate_now(
    sessions: async_sessionmaker[AsyncSession],
    *,
    settings: Settings,
    box: SecretBox,
    keyring: "KeyRing",
    actor: Principal,
) -> Rotation:
    """An operator's rotation (鍵更新): the new key, audited, and this process signing with it."""
    async with unit_of_work(sessions) as session:
        key = await rotate_signing_key(session, box=box, overlap=token_overlap(settings))
        UnitOfWork.of(session).record_access(
            actor, action="identity.key.rotate", target_type="signing_key", target_id=key.kid
        )
        published = [k.kid for k in await published_keys(session)]
    # Reloaded after the commit: signing switches only once the new key is durable.
    await keyring.reload(sessions)
    return Rotation(kid=key.kid, published_kids=published)


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey | None
    public_key: ec.EllipticCurvePublicKey


class KeyRing:
    """The signing key and the published public keys, decrypted once and kept in memory.

    Reloaded after a rotation in this process, on an unknown `kid`, and periodically (another
    identity process may have rotated).
    """

    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self._signing: LoadedKey | None = None
        self._public: dict[str, ec.EllipticCurvePublicKey] = {}
        self._lock = asyncio.Lock()

    async def reload(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        async with self._lock, sessions() as session:
            keys = await published_keys(session)
            public: dict[str, ec.EllipticCurvePublicKey] = {}
            signing: LoadedKey | None = None
            for key in keys:
                pub = ECAlgorithm.from_jwk(key.public_jwk)
                if not isinstance(pub, ec.EllipticCurvePublicKey):
                    raise TypeError(f"signing key {key.kid} is not an EC public key")
                public[key.kid] = pub
                if key.retired_at is None and signing is None:
                    der = self._box.decrypt(key.private_key_encrypted, purpose=_purpose(key.kid))
                    private = serialization.load_der_private_key(der, password=None)
                    if not isinstance(private, ec.EllipticCurvePrivateKey):
                        raise TypeError(f"signing key {key.kid} is not an EC private key")
                    signing = LoadedKey(key.kid, private, pub)
            self._public = public
            self._signing = signing

    def sign(self, claims: dict[str, Any]) -> str:
        if self._signing is None or self._signing.private_key is None:
            raise RuntimeError("no active signing key is loaded")
        return jwt.encode(
            claims,
            self._signing.private_key,
            algorithm=ALGORITHM,
            headers={"kid": self._signing.kid, "typ": "JWT"},
        )

    def public_key(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        return self._public.get(kid)

    @property
    def signing_kid(self) -> str | None:
        return self._signing.kid if self._signing else None
