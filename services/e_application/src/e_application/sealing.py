"""Sealing of the signed packages at rest: AES-256-GCM with key ids (for rotation), bound to the
application and version. A package holds the My Number the applicant signed, so it is never
stored in clear; unsealed it is the package byte for byte as it arrived."""

import base64
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


@dataclass(frozen=True)
class Sealed:
    key_id: str
    data: bytes  # 12-byte nonce, then ciphertext and tag


class Sealer:
    def __init__(self, keys: dict[str, bytes], *, current_key_id: str) -> None:
        if current_key_id not in keys:
            raise ValueError("the current package key id has no key")
        if any(len(k) != 32 for k in keys.values()):
            raise ValueError("package keys must be 32 bytes (AES-256)")
        self._aeads = {kid: AESGCM(key) for kid, key in keys.items()}
        self.current_key_id = current_key_id

    @classmethod
    def from_config(cls, keys: str, *, current_key_id: str) -> "Sealer":
        parsed = {}
        for part in keys.split(","):
            kid, _, b64 = part.strip().partition(":")
            parsed[kid] = base64.b64decode(b64)
        return cls(parsed, current_key_id=current_key_id)

    def seal(self, data: bytes, *, aad: bytes) -> Sealed:
        nonce = os.urandom(12)
        return Sealed(
            self.current_key_id, nonce + self._aeads[self.current_key_id].encrypt(nonce, data, aad)
        )

    def unseal(self, sealed: Sealed, *, aad: bytes) -> bytes:
        if sealed.key_id not in self._aeads:
            raise KeyError(f"no package key {sealed.key_id}")
        return self._aeads[sealed.key_id].decrypt(sealed.data[:12], sealed.data[12:], aad)
