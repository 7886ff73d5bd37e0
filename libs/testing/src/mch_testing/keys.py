"""Signing keys and tokens for tests, shaped like identity's, with the JWKS served over real HTTP.

Tests verify tokens the way services do in production (fetch the JWKS, pick the key by kid),
so only the issuer is replaced, not the verifier.
"""

import contextlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

TEST_ISSUER = "http://identity.test"
TEST_AUDIENCE = "mch"
JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True)
class _Key:
    kid: str
    private: ec.EllipticCurvePrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        return jwk | {"kid": self.kid, "alg": "ES256", "use": "sig"}


class TestKeySet:
    """ES256 keys: `rotate()` adds a new current key and keeps the old ones published."""

    __test__ = False  # a library class, not a pytest test class

    def __init__(self) -> None:
        self._keys: list[_Key] = []
        self._withdrawn: set[str] = set()
        self._lock = threading.Lock()
        self._jwks_body = b""
        self.jwks_url = ""
        self.jwks_requests = 0
        self.rotate()

    @property
    def current_kid(self) -> str:
        return self._keys[-1].kid

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(k.kid for k in self._keys)

    def rotate(self) -> str:
        """Add a new signing key; returns its kid."""
        key = _Key(f"test-{secrets.token_hex(4)}", ec.generate_private_key(ec.SECP256R1()))
        with self._lock:
            self._keys.append(key)
            self._jwks_body = json.dumps(self.jwks()).encode()
        return key.kid

    def withdraw(self, kid: str) -> None:
        """Stop publishing a key (as after a key compromise); it can still sign, for tests."""
        with self._lock:
            self._withdrawn.add(kid)
            self._jwks_body = json.dumps(self.jwks()).encode()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self._keys if k.kid not in self._withdrawn]}

    def public_pem(self, kid: str | None = None) -> bytes:
        return (
            self._key(kid)
            .private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        kid: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign arbitrary claims as they are (for tests of malformed tokens); a header given as
        None is left out."""
        key = self._key(kid)
        merged = {"kid": key.kid, **(headers or {})}
        all_headers = {name: value for name, value in merged.items() if value is not None}
        return jwt.encode(dict(claims), key.private, algorithm="ES256", headers=all_headers)

    def claims(
        self,
        *,
        sub: str = "staff-0001",
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
        ward: str | None = None,
        tenant: str = "401005",
        dept: str | None = "kosodate",
        terminal: str | None = "TERM-0001",
        exp_in: int = 300,
        issuer: str = TEST_ISSUER,
        audience: str = TEST_AUDIENCE,
        **extra: Any,
    ) -> dict[str, Any]:
        """The claims `mint` signs, shaped like identity's; `extra` adds or overrides."""
        now = int(time.time())
        return {
            "iss": issuer,
            "aud": audience,
            "sub": sub,
            "tenant": tenant,
            "dept": dept,
            "ward": ward,
            "roles": list(roles),
            "scope": " ".join(scopes),
            "terminal": terminal,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + exp_in,
            **extra,
        }

    def mint(
        self,
        *,
        sub: str = "staff-0001",
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
        ward: str | None = None,
        tenant: str = "401005",
        dept: str | None = "kosodate",
        terminal: str | None = "TERM-0001",
        exp_in: int = 300,
        kid: str | None = None,
        issuer: str = TEST_ISSUER,
        audience: str = TEST_AUDIENCE,
        **extra: Any,
    ) -> str:
        """A signed token; a service token when `sub` starts with "svc:" or `client_id=` is
        given."""
        claims = self.claims(
            sub=sub,
            scopes=scopes,
            roles=roles,
            ward=ward,
            tenant=tenant,
            dept=dept,
            terminal=terminal,
            exp_in=exp_in,
            issuer=issuer,
            audience=audience,
            **extra,
        )
        return self.sign(claims, kid=kid)

    def _key(self, kid: str | None) -> _Key:
        if kid is None:
            return self._keys[-1]
        for key in self._keys:
            if key.kid == kid:
                return key
        raise KeyError(kid)

    def _serve(self) -> bytes:
        with self._lock:
            self.jwks_requests += 1
            return self._jwks_body


@contextlib.contextmanager
def serve_jwks(keys: TestKeySet, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `keys.jwks()` at a random port until the block ends; sets `keys.jwks_url`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != JWKS_PATH:
                self.send_error(404)
                return
            body = keys._serve()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="jwks-server", daemon=True)
    thread.start()
    keys.jwks_url = f"http://{host}:{server.server_address[1]}{JWKS_PATH}"
    try:
        yield keys.jwks_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
