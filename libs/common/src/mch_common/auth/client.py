"""Service-to-service calls: OAuth2 client-credentials tokens from identity, and an httpx auth
that attaches them.

One token is shared by all of a process's calls and renewed shortly before it expires, so
identity sees one token request per service per token lifetime, not one per call.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote_plus

import httpx

from mch_common.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mch_common.settings import ServiceSettings

log = logging.getLogger("mch.auth.client")

REFRESH_MARGIN = 30.0

ClientAuthMethod = Literal["client_secret_post", "client_secret_basic"]


class ServiceTokenError(ServiceUnavailable):
    """Identity did not issue a token: the call that needed it cannot be made."""

    code, title = "service-token-unavailable", "Service token unavailable"


class ServiceTokenClient:
    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        *,
        http: httpx.AsyncClient | None = None,
        auth_method: ClientAuthMethod = "client_secret_post",
        refresh_margin: float = REFRESH_MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.scope = scope
        self.auth_method = auth_method
        self.refresh_margin = refresh_margin
        self.requests = 0
        self._client_secret = client_secret
        self._http = http if http is not None else httpx.AsyncClient(timeout=10.0)
        self._owns_http = http is None
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:  # never show the secret or the token
        return f"ServiceTokenClient(client_id={self.client_id!r}, scope={self.scope!r})"

    async def token(self) -> str:
        """A valid access token, fetched only when the cached one is within the margin of
        expiry."""
        token = self._token
        if token is not None and self._clock() < self._renew_at:
            return token
        async with self._lock:  # concurrent callers share one token request
            token = self._token
            if token is not None and self._clock() < self._renew_at:
                return token
            return await self._fetch()

    def invalidate(self, token: str | None = None) -> None:
        """Drop the cached token (only if it is still `token`, when given): it was refused."""
        if token is None or token == self._token:
            self._token = None

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _fetch(self) -> str:
        form = {"grant_type": "client_credentials", "scope": self.scope}
        # An explicit auth, so a default auth on an injected client is never applied here.
        auth: httpx.Auth = httpx.Auth()
        if self.auth_method == "client_secret_basic":
            # RFC 6749 2.3.1: both parts form-encoded before Basic encoding.
            auth = httpx.BasicAuth(quote_plus(self.client_id), quote_plus(self._client_secret))
        else:
            form |= {"client_id": self.client_id, "client_secret": self._client_secret}
        self.requests += 1
        started = self._clock()
        try:
            response = await self._http.post(self.token_url, data=form, auth=auth)
        except httpx.HTTPError as exc:
            log.warning("token request for %s failed: %s", self.client_id, type(exc).__name__)
            raise ServiceTokenError("the token endpoint cannot be reached") from None
        if response.status_code != 200:
            error = _oauth_error(response)
            log.warning(
                "token request for %s refused: HTTP %d %s",
                self.client_id,
                response.status_code,
                error,
            )
            raise ServiceTokenError(
                f"the token endpoint refused the request (HTTP {response.status_code} {error})"
            )
        try:
            body = response.json()
            token = body["access_token"]
            expires_in = float(body.get("expires_in", 60))
        except (ValueError, KeyError, TypeError):
            raise ServiceTokenError("the token endpoint sent an unreadable answer") from None
        if not isinstance(token, str) or not token:
            raise ServiceTokenError("the token endpoint sent an unreadable answer")
        # Renew `refresh_margin` before expiry; short-lived tokens at half their life.
        margin = min(self.refresh_margin, expires_in / 2)
        self._token = token
        self._renew_at = started + expires_in - margin
        return token


def _oauth_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else ""


class ServiceAuth(httpx.Auth):
    """`httpx.AsyncClient(auth=ServiceAuth(tokens))`: bearer header on every request, and one
    retry with a fresh token on 401 (the token was revoked or the keys rotated)."""

    requires_request_body = True  # so the retry can send the body again

    def __init__(self, client: ServiceTokenClient) -> None:
        self.client = client

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.client.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self.client.invalidate(token)
            request.headers["Authorization"] = f"Bearer {await self.client.token()}"
            yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("ServiceAuth needs httpx.AsyncClient")
        yield request  # pragma: no cover - makes this a generator, as httpx expects


@contextlib.asynccontextmanager
async def service_http(
    settings: "ServiceSettings",
    scope: str,
    *,
    base_url: str = "",
    timeout: float = 10.0,  # noqa: ASYNC109 - each call's own
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose every call carries this service's own token for `scope` alone (one
    scope per client: a leaked token opens one door). Opened by a lifespan or a command, closed
    with its token client."""
    tokens = ServiceTokenClient(
        settings.token_url, settings.client_id, settings.client_secret, scope
    )
    try:
        async with httpx.AsyncClient(
            base_url=base_url, auth=ServiceAuth(tokens), timeout=timeout
        ) as http:
            yield http
    finally:
        await tokens.close()
