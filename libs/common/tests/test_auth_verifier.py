"""decode_token, the one decode every verifier uses, with keys that come from anywhere (here a
dict, as identity's key ring), and the service-subject helpers."""

from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from mch_common.auth.verifier import (
    DecodedToken,
    client_id_of,
    decode_token,
    service_subject,
)
from mch_common.errors import Unauthorized
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet


async def _decode(keys: TestKeySet, token: str, **options: Any) -> DecodedToken:
    published = {kid: load_pem_public_key(keys.public_pem(kid)) for kid in keys.kids}

    async def key_for(kid: str) -> Any:
        if kid not in published:
            raise Unauthorized("unknown signing key")
        return published[kid]

    return await decode_token(
        token,
        key_for=key_for,
        algorithms=("ES256",),
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        **options,
    )


async def _refusal(keys: TestKeySet, token: str, **options: Any) -> str:
    with pytest.raises(Unauthorized) as caught:
        await _decode(keys, token, **options)
    return str(caught.value.detail)


async def test_a_good_token_gives_its_kid_and_claims() -> None:
    keys = TestKeySet()
    decoded = await _decode(keys, keys.mint(sub="staff-0001"))
    assert decoded.kid == keys.current_kid
    assert decoded.claims["sub"] == "staff-0001"


async def test_each_check_says_what_failed() -> None:
    keys = TestKeySet()
    assert await _refusal(keys, keys.mint(exp_in=-60)) == "token expired"
    assert await _refusal(keys, keys.mint(audience="other")) == "wrong audience"
    assert await _refusal(keys, keys.mint(issuer="other")) == "wrong issuer"
    assert await _refusal(keys, keys.sign({"sub": "x"})) == "token lacks claim tenant"
    no_kid = keys.sign(keys.claims(), headers={"kid": None})
    assert await _refusal(keys, no_kid) == "token names no signing key"
    other_kid = keys.sign(keys.claims(), headers={"kid": "nobody"})
    assert await _refusal(keys, other_kid) == "unknown signing key"
    assert await _refusal(keys, "not.a.token") == "malformed token"
    header_none = "eyJhbGciOiJub25lIiwia2lkIjoiayJ9.e30."  # {"alg":"none","kid":"k"}
    assert await _refusal(keys, header_none) == "signing algorithm not allowed"


async def test_an_expired_token_decodes_for_revocation() -> None:
    keys = TestKeySet()
    decoded = await _decode(keys, keys.mint(exp_in=-60), verify_exp=False)
    assert decoded.claims["exp"] < decoded.claims["iat"]


def test_service_subjects_round_trip() -> None:
    assert service_subject("boshi_core") == "svc:boshi_core"
    assert client_id_of(service_subject("boshi_core")) == "boshi_core"
    assert client_id_of("0190f3a2-5d6e-7c1b-9a2d-3b4c5d6e7f80") is None
