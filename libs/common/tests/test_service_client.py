"""Service tokens against a small real token endpoint, and ServiceAuth against a real verifier."""

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from mch_common.auth.client import ServiceAuth, ServiceTokenClient, ServiceTokenError
from mch_common.auth.deps import require_scope
from mch_common.auth.jwt import JWKSVerifier
from mch_common.auth.principal import Principal
from mch_common.auth.revocation import RevocationList
from mch_common.errors import install_problem_handlers
from mch_common.settings import ServiceSettings
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet

TOKEN_URL = "http://identity.test/oauth2/token"
CLIENT_ID = "boshi"
CLIENT_SECRET = "s3cret-for-tests"
SCOPE = "atena:person:read"


@dataclass
class TokenEndpoint:
    """identity's client-credentials grant, reduced to what the client relies on."""

    keys: TestKeySet
    expires_in: int = 300
    requests: list[dict[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/oauth2/token")
        async def token(request: Request) -> JSONResponse:
            form = dict(await request.form())
            basic = request.headers.get("authorization", "")
            self.requests.append({"form": form, "authorization": basic})
            client_id, secret = form.get("client_id"), form.get("client_secret")
            if basic.startswith("Basic "):
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            if form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            if (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            access_token = self.keys.mint(
                sub=f"svc:{client_id}",
                client_id=client_id,
                scopes=str(form.get("scope", "")).split(),
                terminal=None,
                dept=None,
                exp_in=self.expires_in,
            )
            self.issued.append(access_token)
            body = {"access_token": access_token, "token_type": "Bearer"}
            return JSONResponse(body | {"expires_in": self.expires_in})

        return app


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def endpoint(jwt_keys: TestKeySet) -> TokenEndpoint:
    return TokenEndpoint(jwt_keys)


@pytest.fixture
async def identity_http(endpoint: TokenEndpoint) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=endpoint.app())
    async with httpx.AsyncClient(transport=transport) as http:
        yield http


def _client(http: httpx.AsyncClient, **kwargs: Any) -> ServiceTokenClient:
    return ServiceTokenClient(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, SCOPE, http=http, **kwargs)


async def test_token_is_fetched_with_form_credentials_and_cached(
    identity_http: httpx.AsyncClient, endpoint: TokenEndpoint
) -> None:
    tokens = _client(identity_http)

    first = await tokens.token()
    second = await tokens.token()

    assert first == second == endpoint.issued[0]
    assert len(endpoint.requests) == 1
    assert endpoint.requests[0]["form"] == {
        "grant_type": "client_credentials",
        "scope": SCOPE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    assert endpoint.requests[0]["authorization"] == ""


async def test_basic_client_authentication(
    identity_http: httpx.AsyncClient, endpoint: TokenEndpoint
) -> None:
    tokens = _client(identity_http, auth_method="client_secret_basic")

    assert await tokens.token() == endpoint.issued[0]
    assert endpoint.requests[0]["authorization"].startswith("Basic ")
    assert "client_secret" not in endpoint.requests[0]["form"]


async def test_concurrent_callers_share_one_token_request(
    identity_http: httpx.AsyncClient, endpoint: TokenEndpoint
) -> None:
    tokens = _client(identity_http)

    results = await asyncio.gather(*(tokens.token() for _ in range(10)))

    assert set(results) == {endpoint.issued[0]}
    assert len(endpoint.requests) == 1


async def test_token_is_renewed_30s_before_expiry(
    identity_http: httpx.AsyncClient, endpoint: TokenEndpoint
) -> None:
    clock = FakeClock()
    tokens = _client(identity_http, clock=clock)
    first = await tokens.token()

    clock.now += 300 - 31
    assert await tokens.token() == first
    clock.now += 2
    renewed = await tokens.token()

    assert renewed != first
    assert len(endpoint.requests) == 2


async def test_short_lived_tokens_are_renewed_at_half_life(
    identity_http: httpx.AsyncClient, endpoint: TokenEndpoint
) -> None:
    endpoint.expires_in = 40
    clock = FakeClock()
    tokens = _client(identity_http, clock=clock)
    first = await tokens.token()

    clock.now += 19
    assert await tokens.token() == first
    clock.now += 2
    assert await tokens.token() != first


async def test_refused_credentials_raise_without_leaking_the_secret(
    identity_http: httpx.AsyncClient,
) -> None:
    tokens = ServiceTokenClient(TOKEN_URL, CLIENT_ID, "wrong-secret", SCOPE, http=identity_http)

    with pytest.raises(ServiceTokenError) as caught:
        await tokens.token()

    assert caught.value.status == 503
    assert "401" in caught.value.detail
    assert "invalid_client" in caught.value.detail
    assert "wrong-secret" not in caught.value.detail
    assert "wrong-secret" not in repr(tokens)


async def test_unreachable_token_endpoint_raises() -> None:
    tokens = ServiceTokenClient("http://127.0.0.1:9/oauth2/token", CLIENT_ID, CLIENT_SECRET, SCOPE)
    try:
        with pytest.raises(ServiceTokenError, match="cannot be reached"):
            await tokens.token()
    finally:
        await tokens.close()


# --- ServiceAuth against a service that verifies for real ----------------------------------


@dataclass
class ProtectedService:
    verifier: JWKSVerifier
    revocations: RevocationList
    calls: list[str | None] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()
        install_problem_handlers(app)
        app.state.verifier = self.verifier
        app.state.settings = ServiceSettings(environment="test")

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Any:
            self.calls.append(request.headers.get("authorization"))
            return await call_next(request)

        @app.post("/persons/search")
        async def search(
            request: Request, principal: Annotated[Principal, require_scope(SCOPE)]
        ) -> dict[str, Any]:
            return {"sub": principal.sub, "service": principal.is_service, **await request.json()}

        return app


@pytest.fixture
async def service(jwt_keys: TestKeySet) -> AsyncIterator[ProtectedService]:
    revocations = RevocationList()
    verifier = JWKSVerifier(
        jwt_keys.jwks_url, issuer=TEST_ISSUER, audience=TEST_AUDIENCE, revocations=revocations
    )
    yield ProtectedService(verifier, revocations)
    await verifier.close()


@pytest.fixture
def tokens(identity_http: httpx.AsyncClient) -> ServiceTokenClient:
    return _client(identity_http)


@pytest.fixture
async def service_http(
    service: ProtectedService, tokens: ServiceTokenClient
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.app())
    async with httpx.AsyncClient(
        transport=transport, base_url="http://atena.test", auth=ServiceAuth(tokens)
    ) as http:
        yield http


async def test_service_auth_sends_the_bearer_token(
    service_http: httpx.AsyncClient, service: ProtectedService, endpoint: TokenEndpoint
) -> None:
    response = await service_http.post("/persons/search", json={"q": "1"})

    assert response.status_code == 200
    assert response.json() == {"sub": f"svc:{CLIENT_ID}", "service": True, "q": "1"}
    assert service.calls == [f"Bearer {endpoint.issued[0]}"]


async def test_service_auth_retries_once_with_a_fresh_token_after_401(
    service_http: httpx.AsyncClient,
    service: ProtectedService,
    endpoint: TokenEndpoint,
    tokens: ServiceTokenClient,
) -> None:
    await service_http.post("/persons/search", json={"q": "1"})
    revoked = await service.verifier.verify(endpoint.issued[0])
    assert revoked.jti is not None
    service.revocations.revoke_jti(revoked.jti, 2e9)

    response = await service_http.post("/persons/search", json={"q": "2"})

    assert response.status_code == 200
    assert response.json()["q"] == "2"  # the body was sent again on the retry
    assert service.calls[1:] == [f"Bearer {endpoint.issued[0]}", f"Bearer {endpoint.issued[1]}"]
    assert await tokens.token() == endpoint.issued[1]


async def test_service_auth_gives_up_after_one_retry(
    service_http: httpx.AsyncClient, service: ProtectedService, endpoint: TokenEndpoint
) -> None:
    service.revocations.revoke_subject(f"svc:{CLIENT_ID}", 2e9)  # every token refused

    response = await service_http.post("/persons/search", json={"q": "1"})

    assert response.status_code == 401
    assert response.json()["detail"] == "token revoked"
    assert len(service.calls) == 2
    assert len(endpoint.requests) == 2


def test_service_auth_refuses_sync_clients(tokens: ServiceTokenClient) -> None:
    with httpx.Client(auth=ServiceAuth(tokens)) as http, pytest.raises(RuntimeError):
        http.get("http://127.0.0.1:9/")
