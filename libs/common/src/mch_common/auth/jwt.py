"""Verifying identity's JWTs against its published JWKS.

Security choices, each against a known JWT attack:
- the accepted algorithms are fixed by configuration, and each key is bound to the algorithm
  of its JWKS entry, so a token cannot pick `none` or HS256-keyed-with-the-public-key;
- keys are looked up by `kid` only; an unknown `kid` refetches the JWKS (key rotation), at most
  once per kid per `refetch_interval` and a few times a minute overall, so forged kids cannot
  turn the verifier into a flood of requests to identity;
- the JWKS is also re-read every `keys_max_age` (off the request path), so a key identity
  withdraws stops verifying, remembered tokens included;
- error details name the failed check, never the token.

Speed: keys are parsed once; a token already verified is remembered (bounded LRU) until it
expires, so the common case (a client reusing its token) costs a dict look-up plus the expiry
and revocation checks, which are never cached.
"""

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from typing import Any

import httpx
import jwt
from jwt.exceptions import PyJWKError

from mch_common.auth.principal import Principal
from mch_common.auth.revocation import RevocationList
from mch_common.auth.verifier import DEFAULT_LEEWAY, client_id_of, decode_token
from mch_common.errors import ServiceUnavailable, Unauthorized

log = logging.getLogger("mch.auth.jwt")

DEFAULT_REFETCH_INTERVAL = 10.0
DEFAULT_MAX_REFETCHES_PER_MINUTE = 6
DEFAULT_KEYS_MAX_AGE = 300.0
DEFAULT_CACHE_SIZE = 10_000
# While identity cannot be reached, requests fail fast instead of queueing behind fetches.
FAILED_FETCH_BACKOFF = 1.0


class JWKSVerifier:
    """The TokenVerifier of every service but identity."""

    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        algorithms: tuple[str, ...] = ("ES256",),
        revocations: RevocationList | None = None,
        leeway: float = DEFAULT_LEEWAY,
        refetch_interval: float = DEFAULT_REFETCH_INTERVAL,
        max_refetches_per_minute: int = DEFAULT_MAX_REFETCHES_PER_MINUTE,
        keys_max_age: float = DEFAULT_KEYS_MAX_AGE,
        cache_size: int = DEFAULT_CACHE_SIZE,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if not algorithms or "none" in {a.lower() for a in algorithms}:
            raise ValueError("algorithms must name real signature algorithms")
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self.revocations = revocations
        self.leeway = leeway
        self.refetch_interval = refetch_interval
        self.max_refetches_per_minute = max_refetches_per_minute
        self.keys_max_age = keys_max_age
        self.cache_size = cache_size
        self.jwks_fetches = 0
        self._http = http if http is not None else httpx.AsyncClient(timeout=5.0)
        self._owns_http = http is None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_loaded_at: float | None = None
        self._last_failure: float | None = None
        self._fetch_times: deque[float] = deque()
        self._kid_misses: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self._verified: OrderedDict[str, tuple[Principal, float, str]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None and cached[2] in self._keys:  # its key was not withdrawn since
            principal, exp, _ = cached
            if exp <= now - self.leeway:
                del self._verified[token]
                raise Unauthorized("token expired")
            self._verified.move_to_end(token)
            self._refuse_if_revoked(principal.claims)
            self._refresh_keys_if_stale()
            return principal

        kid, claims = await decode_token(
            token,
            key_for=self._key_for,
            algorithms=self.algorithms,
            issuer=self.issuer,
            audience=self.audience,
            leeway=self.leeway,
        )
        principal = principal_from_claims(claims)
        self._refuse_if_revoked(claims)
        self._remember(token, principal, float(claims["exp"]), kid)
        self._refresh_keys_if_stale()
        return principal

    async def refresh_keys(self) -> None:
        """Fetch the JWKS now (e.g. to warm up); raises ServiceUnavailable if identity is down."""
        async with self._lock:
            await self._fetch_keys()

    async def close(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background
            self._background = None
        if self._owns_http:
            await self._http.aclose()

    def _refuse_if_revoked(self, claims: Mapping[str, object]) -> None:
        if self.revocations is not None and self.revocations.is_revoked(claims):
            raise Unauthorized("token revoked")

    def _remember(self, token: str, principal: Principal, exp: float, kid: str) -> None:
        if self.cache_size <= 0:
            return
        self._verified[token] = (principal, exp, kid)
        if len(self._verified) > self.cache_size:
            self._verified.popitem(last=False)

    async def _key_for(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:  # one fetch for a burst of requests naming the same new kid
            key = self._keys.get(kid)
            if key is not None:
                return key
            if self._keys_loaded_at is None:
                failed = self._last_failure
                if failed is not None and time.monotonic() - failed < FAILED_FETCH_BACKOFF:
                    raise ServiceUnavailable("signing keys are unavailable")
                await self._fetch_keys()
            elif self._may_refetch_for(kid):
                try:
                    await self._fetch_keys()
                except ServiceUnavailable:
                    pass  # keep the keys we have; this kid is unknown either way
            key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("unknown signing key")
        return key

    def _may_refetch_for(self, kid: str) -> bool:
        now = time.monotonic()
        last = self._kid_misses.get(kid)
        if last is not None and now - last < self.refetch_interval:
            return False
        while self._fetch_times and now - self._fetch_times[0] >= 60.0:
            self._fetch_times.popleft()
        if len(self._fetch_times) >= self.max_refetches_per_minute:
            log.warning("JWKS refetch for an unknown kid skipped: too many refetches this minute")
            return False
        self._kid_misses = {
            k: t for k, t in self._kid_misses.items() if now - t < self.refetch_interval
        }
        self._kid_misses[kid] = now
        return True

    async def _fetch_keys(self) -> None:
        self._fetch_times.append(time.monotonic())
        self.jwks_fetches += 1
        try:
            response = await self._http.get(self.jwks_url)
            response.raise_for_status()
            keys = self._parse_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            self._last_failure = time.monotonic()
            log.warning("JWKS fetch from %s failed: %s", self.jwks_url, type(exc).__name__)
            raise ServiceUnavailable("signing keys are unavailable") from None
        self._keys = keys
        self._keys_loaded_at = time.monotonic()

    def _parse_jwks(self, document: object) -> dict[str, jwt.PyJWK]:
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValueError("the JWKS has no key list")
        keys: dict[str, jwt.PyJWK] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                continue
            if entry.get("use", "sig") != "sig" or "d" in entry:
                continue  # encryption keys and leaked private keys are never trusted
            try:
                key = jwt.PyJWK(entry)
            except (PyJWKError, jwt.InvalidKeyError):
                log.warning("JWKS key %s cannot be used", entry["kid"])
                continue
            if key.algorithm_name in self.algorithms:
                keys[entry["kid"]] = key
        return keys

    def _refresh_keys_if_stale(self) -> None:
        """Pick up withdrawn keys without waiting for an unknown kid; off the request path."""
        loaded = self._keys_loaded_at
        if loaded is None or time.monotonic() - loaded < self.keys_max_age:
            return
        if self._background is not None and not self._background.done():
            return
        self._background = asyncio.create_task(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        async with self._lock:
            loaded = self._keys_loaded_at
            if loaded is not None and time.monotonic() - loaded < self.keys_max_age:
                return
            try:
                await self._fetch_keys()
            except ServiceUnavailable:
                # Try again after another max-age; the keys we have stay valid meanwhile.
                self._keys_loaded_at = time.monotonic()


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Map verified claims to a Principal, refusing claims of the wrong shape."""
    sub = _claim_str(claims, "sub")
    is_service = "client_id" in claims or client_id_of(sub) is not None
    scope = _claim_str(claims, "scope", allow_empty=True)
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("malformed claim roles")
    # A staff token without `ward` must not silently become city-wide: identity always sends it,
    # null for city-wide roles.
    if "ward" not in claims and not is_service:
        raise Unauthorized("token lacks claim ward")
    return Principal(
        sub=sub,
        tenant=_claim_str(claims, "tenant"),
        scopes=frozenset(scope.split()),
        roles=tuple(roles),
        dept=_optional_str(claims, "dept"),
        ward=_optional_str(claims, "ward"),
        terminal=_optional_str(claims, "terminal"),
        jti=_claim_str(claims, "jti"),
        is_service=is_service,
        claims=dict(claims),
    )


def _claim_str(claims: Mapping[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise Unauthorized(f"malformed claim {name}")
    return value


def _optional_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Unauthorized(f"malformed claim {name}")
    return value
