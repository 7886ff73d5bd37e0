"""JWKSVerifier against a JWKS served over real HTTP: what it accepts, what it refuses and why."""

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mch_common.auth.jwt import JWKSVerifier
from mch_common.auth.revocation import RevocationList
from mch_common.errors import ServiceUnavailable, Unauthorized
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet, serve_jwks


@pytest.fixture
async def verifier(jwt_keys: TestKeySet) -> AsyncIterator[JWKSVerifier]:
    v = JWKSVerifier(
        jwt_keys.jwks_url,
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        revocations=RevocationList(),
    )
    yield v
    await v.close()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


async def _refused(verifier: JWKSVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as caught:
        await verifier.verify(token)
    if len(token) > 8:  # a real token must never be echoed
        assert token not in caught.value.detail
        assert token not in str(caught.value)
    return caught.value.detail


async def test_valid_staff_token_becomes_principal(
    verifier: JWKSVerifier, jwt_keys: TestKeySet
) -> None:
    token = jwt_keys.mint(
        scopes=("atena:person:read", "boshi:record:write"),
        roles=("hokenshi",),
        ward="02",
        dept="kosodate",
        terminal="TERM-0042",
    )

    principal = await verifier.verify(token)

    assert principal.sub == "staff-0001"
    assert principal.tenant == "401005"
    assert principal.scopes == frozenset({"atena:person:read", "boshi:record:write"})
    assert principal.roles == ("hokenshi",)
    assert principal.ward == "02"
    assert not principal.city_wide
    assert principal.dept == "kosodate"
    assert principal.terminal == "TERM-0042"
    assert principal.jti == principal.claims["jti"]
    assert principal.is_service is False


async def test_null_ward_is_city_wide(verifier: JWKSVerifier, jwt_keys: TestKeySet) -> None:
    principal = await verifier.verify(jwt_keys.mint(ward=None))

    assert principal.ward is None
    assert principal.city_wide


@pytest.mark.parametrize(
    ("sub", "extra"),
    [("svc:boshi", {}), ("boshi-service", {"client_id": "boshi-service"})],
)
async def test_service_tokens_are_recognised(
    verifier: JWKSVerifier, jwt_keys: TestKeySet, sub: str, extra: dict[str, Any]
) -> None:
    claims = jwt_keys.claims(sub=sub, scopes=("atena:person:read",), terminal=None, **extra)
    del claims["ward"]  # services may omit it

    principal = await verifier.verify(jwt_keys.sign(claims))

    assert principal.is_service
    assert principal.ward is None


async def test_staff_token_without_ward_claim_is_refused(
    verifier: JWKSVerifier, jwt_keys: TestKeySet
) -> None:
    claims = jwt_keys.claims()
    del claims["ward"]

    assert await _refused(verifier, jwt_keys.sign(claims)) == "token lacks claim ward"


async def test_alg_none_is_refused(verifier: JWKSVerifier, jwt_keys: TestKeySet) -> None:
    token = _unsigned({"alg": "none", "typ": "JWT", "kid": jwt_keys.current_kid}, jwt_keys.claims())

    assert await _refused(verifier, token + ".") == "signing algorithm not allowed"


def _hs256_with_public_pem(jwt_keys: TestKeySet) -> str:
    # The classic key-confusion attack: HMAC keyed with the verifier's own public key.
    header = {"alg": "HS256", "typ": "JWT", "kid": jwt_keys.current_kid}
    signing_input = _unsigned(header, jwt_keys.claims(scopes=("atena:person:read",)))
    mac = hmac.new(jwt_keys.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


async def test_hs256_signed_with_public_key_is_refused(
    verifier: JWKSVerifier, jwt_keys: TestKeySet
) -> None:
    assert await _refused(verifier, _hs256_with_public_pem(jwt_keys)) == (
        "signing algorithm not allowed"
    )


async def test_hs256_is_refused_even_when_configured(jwt_keys: TestKeySet) -> None:
    # Keys are bound to their JWKS algorithm, so allowing HS256 cannot reopen the attack.
    verifier = JWKSVerifier(
        jwt_keys.jwks_url,
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        algorithms=("ES256", "HS256"),
    )
    try:
        await verifier.verify(jwt_keys.mint())  # loads the keys
        assert await _refused(verifier, _hs256_with_public_pem(jwt_keys)) == (
            "signing algorithm not allowed"
        )
    finally:
        await verifier.close()


def test_none_cannot_be_configured() -> None:
    with pytest.raises(ValueError, match="algorithms"):
        JWKSVerifier("http://x", issuer="i", audience="a", algorithms=("none",))


async def test_expired_token_is_refused(verifier: JWKSVerifier, jwt_keys: TestKeySet) -> None:
    token = jwt_keys.mint(exp_in=-60)

    assert await _refused(verifier, token) == "token expired"


async def test_cached_token_is_refused_once_expired(jwt_keys: TestKeySet) -> None:
    verifier = JWKSVerifier(jwt_keys.jwks_url, issuer=TEST_ISSUER, audience=TEST_AUDIENCE, leeway=0)
    try:
        # exp is whole seconds: 2 s leaves at least 1 s to verify it while still valid.
        token = jwt_keys.mint(exp_in=2)
        await verifier.verify(token)
        await asyncio.sleep(2.1)

        assert await _refused(verifier, token) == "token expired"
    finally:
        await verifier.close()


async def test_token_issued_in_the_future_is_refused(
    verifier: JWKSVerifier, jwt_keys: TestKeySet
) -> None:
    token = jwt_keys.mint(iat=int(time.time()) + 3600)

    assert await _refused(verifier, token) == "token not yet valid"


async def test_wrong_audience_is_refused(verifier: JWKSVerifier, jwt_keys: TestKeySet) -> None:
    token = jwt_keys.mint(audience="other-system")

    assert await _refused(verifier, token) == "wrong audience"


async def test_wrong_issuer_is_refused(verifier: JWKSVerifier, jwt_keys: TestKeySet) -> None:
    token = jwt_keys.mint(issuer="http://evil.test")

    assert await _refused(verifier, token) == "wrong issuer"


@pytest.mark.parametrize("claim", ["sub", "tenant", "scope", "jti", "exp", "iat"])
async def test_missing_claim_is_refused(
    verifier: JWKSVerifier, jwt_keys: TestKeySet, claim: str
) -> None:
    claims = jwt_keys.claims()
    del claims[claim]

    assert await _refused(verifier, jwt_keys.sign(claims)) == f"token lacks claim {claim}"


@pytest.mark.parametrize(
    ("claim", "value"),
    [("scope", ["a", "b"]), ("roles", "admin"), ("tenant", 401005), ("ward", 2), ("sub", "")],
)
async def test_malformed_claim_is_refused(
    verifier: JWKSVerifier, jwt_keys: TestKeySet, claim: str, value: object
) -> None:
    token = jwt_keys.sign(jwt_keys.claims() | {claim: value})

    assert await _refused(verifier, token) == f"malformed claim {claim}"


async def test_tampered_payload_is_refused(verifier: JWKSVerifier, jwt_keys: TestKeySet) -> None:
    header, _, signature = jwt_keys.mint(scopes=("atena:person:read",)).split(".")
    forged = _b64(json.dumps(jwt_keys.claims(scopes=("atena:mynumber:read",))).encode())

    assert await _refused(verifier, f"{header}.{forged}.{signature}") == "bad signature"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "....", "eyJhbGciOiJFUzI1NiJ9"])
async def test_garbage_is_refused(verifier: JWKSVerifier, token: str) -> None:
    detail = await _refused(verifier, token)

    assert detail in {"malformed token", "signing algorithm not allowed"}


async def test_token_without_kid_is_refused(verifier: JWKSVerifier, jwt_keys: TestKeySet) -> None:
    token = jwt_keys.sign(jwt_keys.claims(), headers={"kid": None})

    assert await _refused(verifier, token) == "token names no signing key"


async def test_unknown_kid_refetches_once_then_accepts_a_rotated_key(
    verifier: JWKSVerifier, jwt_keys: TestKeySet
) -> None:
    await verifier.verify(jwt_keys.mint())  # initial JWKS load
    stranger = TestKeySet()  # a key identity never published
    forged = stranger.mint(scopes=("atena:person:read",))
    before = jwt_keys.jwks_requests

    assert await _refused(verifier, forged) == "unknown signing key"
    assert jwt_keys.jwks_requests == before + 1
    # The same unknown kid again, at once and in a burst: no more requests to identity.
    for _ in range(5):
        assert await _refused(verifier, forged) == "unknown signing key"
    assert jwt_keys.jwks_requests == before + 1

    new_kid = jwt_keys.rotate()
    principal = await verifier.verify(jwt_keys.mint(kid=new_kid, sub="staff-0002"))

    assert principal.sub == "staff-0002"
    assert jwt_keys.jwks_requests == before + 2
    # Old keys stay published after rotation: their unexpired tokens still pass, no refetch.
    old_kid = jwt_keys.kids[-2]
    await verifier.verify(jwt_keys.mint(kid=old_kid))
    assert jwt_keys.jwks_requests == before + 2


async def test_concurrent_unknown_kids_share_one_refetch(
    verifier: JWKSVerifier, jwt_keys: TestKeySet
) -> None:
    await verifier.verify(jwt_keys.mint())
    forged = TestKeySet().mint()
    before = jwt_keys.jwks_requests

    results = await asyncio.gather(
        *(verifier.verify(forged) for _ in range(20)), return_exceptions=True
    )

    assert all(isinstance(r, Unauthorized) for r in results)
    assert jwt_keys.jwks_requests == before + 1


async def test_random_kids_cannot_flood_identity(jwt_keys: TestKeySet) -> None:
    verifier = JWKSVerifier(
        jwt_keys.jwks_url,
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        max_refetches_per_minute=3,
    )
    try:
        await verifier.verify(jwt_keys.mint())
        before = jwt_keys.jwks_requests
        for _ in range(10):
            await _refused(verifier, TestKeySet().mint())

        assert jwt_keys.jwks_requests == before + 2  # 3 a minute, the first being the load
    finally:
        await verifier.close()


async def test_unreachable_identity_is_unavailable_not_unauthorized(
    jwt_keys: TestKeySet,
) -> None:
    verifier = JWKSVerifier(
        "http://127.0.0.1:9/.well-known/jwks.json", issuer=TEST_ISSUER, audience=TEST_AUDIENCE
    )
    try:
        with pytest.raises(ServiceUnavailable, match="signing keys are unavailable"):
            await verifier.verify(jwt_keys.mint())
    finally:
        await verifier.close()


async def test_revoked_token_is_refused_even_when_cached(jwt_keys: TestKeySet) -> None:
    revocations = RevocationList()
    verifier = JWKSVerifier(
        jwt_keys.jwks_url, issuer=TEST_ISSUER, audience=TEST_AUDIENCE, revocations=revocations
    )
    try:
        token = jwt_keys.mint(sub="staff-0100")
        principal = await verifier.verify(token)
        assert await verifier.verify(token) == principal

        assert principal.jti is not None
        revocations.revoke_jti(principal.jti, time.time() + 300)

        assert await _refused(verifier, token) == "token revoked"
        assert await verifier.verify(jwt_keys.mint(sub="staff-0100")) is not None
    finally:
        await verifier.close()


async def test_withdrawn_key_is_refused_after_the_periodic_refresh() -> None:
    keys = TestKeySet()
    with serve_jwks(keys):
        verifier = JWKSVerifier(
            keys.jwks_url, issuer=TEST_ISSUER, audience=TEST_AUDIENCE, keys_max_age=0.05
        )
        try:
            old_kid = keys.current_kid
            token = keys.mint()
            await verifier.verify(token)
            keys.rotate()
            keys.withdraw(old_kid)
            await asyncio.sleep(0.1)
            # Still accepted from the cache, which starts a refresh off the request path.
            await verifier.verify(token)

            async def refusal() -> str:
                while True:
                    try:
                        await verifier.verify(token)
                    except Unauthorized as exc:
                        return exc.detail
                    await asyncio.sleep(0.01)

            assert await asyncio.wait_for(refusal(), 2.0) == "unknown signing key"
            assert (await verifier.verify(keys.mint())).sub == "staff-0001"
        finally:
            await verifier.close()
