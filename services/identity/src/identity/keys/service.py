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
from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.crypto import SecretBox, b64url
from identity.keys.models import SigningKey

ALGORITHM = "ES256"
_ROTATION_LOCK = text("SELECT pg_advisory_xact_lock(7340101)")
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


async def active_key(session: AsyncSession) -> SigningKey | None:
    return (
        await session.execute(
            select(SigningKey)
            .where(SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def ensure_active_key(
    session: AsyncSession, *, box: SecretBox, max_age: timedelta, overlap: timedelta
) -> SigningKey:
    """Make a key if there is none, rotate if the active one is too old. Idempotent."""
    await session.execute(_ROTATION_LOCK)
    key = await active_key(session)
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
    await session.execute(_ROTATION_LOCK)
    return await _rotate_locked(session, box=box, overlap=overlap)


async def _rotate_locked(
    session: AsyncSession, *, box: SecretBox, overlap: timedelta
) -> SigningKey:
    now = datetime.now(UTC)
    for old in (
        await session.execute(select(SigningKey).where(SigningKey.retired_at.is_(None)))
    ).scalars():
        old.retired_at = now
        old.publish_until = now + overlap + PUBLISH_LEEWAY
    key = _new_key(box)
    key.created_at = now
    session.add(key)
    await session.flush()
    return key


async def published_keys(session: AsyncSession) -> list[SigningKey]:
    now = datetime.now(UTC)
    return list(
        (
            await session.execute(
                select(SigningKey)
                .where(or_(SigningKey.publish_until.is_(None), SigningKey.publish_until > now))
                .order_by(SigningKey.created_at.desc())
            )
        ).scalars()
    )


async def jwks(session: AsyncSession) -> dict[str, list[dict[str, Any]]]:
    return {"keys": [dict(k.public_jwk) for k in await published_keys(session)]}


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
                assert isinstance(pub, ec.EllipticCurvePublicKey)
                public[key.kid] = pub
                if key.retired_at is None and signing is None:
                    der = self._box.decrypt(key.private_key_encrypted, purpose=_purpose(key.kid))
                    private = serialization.load_der_private_key(der, password=None)
                    assert isinstance(private, ec.EllipticCurvePrivateKey)
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
