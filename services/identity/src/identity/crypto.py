"""Secrets at rest and credential hashing.

- Staff passwords: argon2id with OWASP's recommended parameters (19 MiB, t=2, p=1: about 30 ms
  per verification here), verified in a worker thread. Hashes carry their parameters, so
  raising them later keeps old hashes verifiable.
- Service client secrets: generated, 256 bits of entropy, so a SHA-256 digest is enough and
  keeps client-credential token issuance cheap.
- Signing keys and TOTP secrets: AES-256-GCM under a key-encryption key derived with HKDF from
  `Settings.key_encryption_secret`, which never enters the database.
"""

import asyncio
import base64
import hashlib
import hmac
import os
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mch_common.errors import InvalidInput

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the user id is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

# A short list of passwords people choose when told "12 characters"; a real deployment would
# load a larger breached-password list.
_COMMON_PASSWORDS = frozenset(
    {
        "password1234",
        "passw0rd1234",
        "123456789012",
        "qwertyuiop12",
        "kitakyushu12",
        "kitakyushu123",
        "administrator",
        "password123!",
        "changeme1234",
        "welcome12345",
    }
)


class SecretBox:
    """AES-256-GCM with a key derived from a configured secret; the `purpose` is bound as AAD."""

    def __init__(self, secret: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"mch-identity", info=b"key-encryption"
        ).derive(secret.encode())
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, *, purpose: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext, purpose.encode())

    def decrypt(self, blob: bytes, *, purpose: str) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], purpose.encode())


def check_password_policy(
    password: str, *, login_id: str, min_length: int, field: str = "password"
) -> None:
    """Length over composition (NIST SP 800-63B style), plus a few obvious refusals."""
    problems: list[str] = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters")
    if len(password) > 128:
        problems.append("must be at most 128 characters")
    if password.lower() in _COMMON_PASSWORDS:
        problems.append("is a commonly used password")
    if login_id and login_id.lower() in password.lower():
        problems.append("must not contain the user id")
    if len(set(password)) < 5:
        problems.append("must use at least 5 different characters")
    if problems:
        raise InvalidInput(
            "The password does not meet the policy.",
            errors=[{"loc": [field], "msg": p, "type": "password_policy"} for p in problems],
        )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(hashed: str | None, password: str) -> bool:
    try:
        return _hasher.verify(hashed or _DUMMY_HASH, password) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(hashed: str | None, password: str) -> bool:
    """`hashed=None` (unknown user) still spends the time of a real verification."""
    return await asyncio.to_thread(_verify, hashed, password)


def generate_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters


def generate_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def client_secret_matches(stored: str | None, presented: str) -> bool:
    candidate = hash_client_secret(presented)
    return hmac.compare_digest(stored or "0" * 64, candidate) and stored is not None


def opaque_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
