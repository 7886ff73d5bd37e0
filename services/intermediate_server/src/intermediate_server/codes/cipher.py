"""Encryption of the stored 符号 (AES-256-GCM, bound to tenant and person number) and its
lookup index (HMAC, per tenant)."""

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class CodeCipher:
    def __init__(self, *, key_id: str, key: bytes, index_key: bytes) -> None:
        self.key_id = key_id
        self._aead = AESGCM(key)
        self._index_key = index_key

    @staticmethod
    def _aad(tenant: str, person_no: str) -> bytes:
        return f"{tenant}:{person_no}".encode()

    def encrypt(self, code: str, *, tenant: str, person_no: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, code.encode(), self._aad(tenant, person_no))

    def decrypt(self, sealed: bytes, *, tenant: str, person_no: str) -> str:
        return self._aead.decrypt(sealed[:12], sealed[12:], self._aad(tenant, person_no)).decode()

    def index(self, code: str, *, tenant: str) -> bytes:
        return hmac.new(self._index_key, f"{tenant}:{code}".encode(), hashlib.sha256).digest()
