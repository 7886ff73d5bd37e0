"""Revocations: the in-memory list, and the watcher fed by identity's events over real NATS."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from mch_common.auth.jwt import JWKSVerifier
from mch_common.auth.revocation import RevocationList, RevocationWatcher
from mch_common.auth.setup import start_auth, stop_auth
from mch_common.errors import Unauthorized
from mch_common.events.bus import EventBus
from mch_common.events.envelope import CloudEvent
from mch_common.settings import ServiceSettings
from mch_testing.embedded import embedded_nats, free_port
from mch_testing.keys import TEST_AUDIENCE, TEST_ISSUER, TestKeySet

# --- RevocationList ------------------------------------------------------------------------


def test_revoked_jti_is_refused_and_others_pass() -> None:
    revocations = RevocationList()
    revocations.revoke_jti("jti-1", time.time() + 60)

    assert revocations.is_revoked({"jti": "jti-1", "sub": "u", "iat": 0})
    assert not revocations.is_revoked({"jti": "jti-2", "sub": "u", "iat": 0})


def test_subject_revocation_refuses_only_tokens_issued_before() -> None:
    revocations = RevocationList()
    revocations.revoke_subject("staff-1", 1000.5)

    assert revocations.is_revoked({"jti": "a", "sub": "staff-1", "iat": 1000})
    assert not revocations.is_revoked({"jti": "b", "sub": "staff-1", "iat": 1001})
    assert not revocations.is_revoked({"jti": "c", "sub": "staff-2", "iat": 1000})
    assert revocations.is_revoked({"jti": "d", "sub": "staff-1"})  # no iat: refuse


def test_a_later_subject_revocation_wins_and_an_older_one_does_not_undo_it() -> None:
    revocations = RevocationList()
    revocations.revoke_subject("staff-1", 2000)
    revocations.revoke_subject("staff-1", 1000)  # a replayed older event

    assert revocations.is_revoked({"jti": "a", "sub": "staff-1", "iat": 1500})


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_expired_entries_are_pruned() -> None:
    clock = FakeClock(10_000.0)
    revocations = RevocationList(clock=clock, subject_ttl=3600)
    revocations.revoke_jti("short", 10_060)
    revocations.revoke_jti("long", 20_000)
    revocations.revoke_subject("staff-1", 10_000)

    clock.now = 10_100
    assert revocations.prune() == 1
    assert len(revocations) == 2

    clock.now = 13_700
    assert revocations.prune() == 1  # subject: every token issued before it has expired
    assert len(revocations) == 1


def test_a_revoked_token_stays_refused_while_verifiers_still_accept_it() -> None:
    """Verifiers take a token up to their leeway after `exp`; a prune inside that window must
    not let a revoked token through again."""
    clock = FakeClock(10_000.0)
    revocations = RevocationList(clock=clock, expiry_leeway=10)
    revocations.revoke_jti("revoked", 10_000)
    clock.now = 10_005
    assert revocations.prune() == 0
    assert revocations.is_revoked({"jti": "revoked"})
    clock.now = 10_011
    assert revocations.prune() == 1

    clock.now = 20_001 + 60
    revocations.revoke_jti("new", 30_000)  # pruning also happens on the way
    assert len(revocations) == 1


# --- RevocationWatcher over real NATS ------------------------------------------------------


def _event(event_type: str, data: dict[str, Any]) -> CloudEvent:
    return CloudEvent(source="/identity", type=event_type, data=data, tenant="401005")


async def _publish(bus: EventBus, event: CloudEvent) -> None:
    await bus.js.publish(bus.naming.subject(event.type), event.to_json_bytes())


async def _eventually(check: Callable[[], bool], within: float) -> float:
    """Seconds until `check()` held; fails after `within` seconds."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            pytest.fail(f"not true within {within}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
async def watched(bus: EventBus) -> AsyncIterator[RevocationList]:
    revocations = RevocationList()
    watcher = RevocationWatcher(bus, revocations)
    await watcher.start()
    yield revocations
    await watcher.stop()


@pytest.mark.parametrize(
    "event_type",
    [
        "identity.user.revoked",
        "identity.user.suspended",
        "identity.user.transferred",
        "identity.user.deleted",
        "identity.user.roles_changed",
        "identity.user.password_changed",
    ],
)
async def test_user_events_revoke_the_subject_within_2s(
    bus: EventBus, watched: RevocationList, event_type: str
) -> None:
    user = f"staff-{uuid.uuid4().hex[:8]}"
    at = time.time()
    claims = {"jti": "x", "sub": user, "iat": int(at) - 5}
    assert not watched.is_revoked(claims)

    await _publish(bus, _event(event_type, {"user_id": user, "at": at}))

    assert await _eventually(lambda: watched.is_revoked(claims), within=2.0) < 2.0
    assert not watched.is_revoked(claims | {"iat": int(at) + 1})


async def test_token_revoked_event_revokes_the_jti(bus: EventBus, watched: RevocationList) -> None:
    jti = uuid.uuid4().hex
    claims = {"jti": jti, "sub": "staff-0001", "iat": int(time.time())}

    await _publish(
        bus, _event("identity.token.revoked", {"jti": jti, "exp": int(time.time()) + 300})
    )

    assert await _eventually(lambda: watched.is_revoked(claims), within=2.0) < 2.0


async def test_other_identity_events_and_bad_payloads_are_ignored(
    bus: EventBus, watched: RevocationList
) -> None:
    user = f"staff-{uuid.uuid4().hex[:8]}"
    marker = f"staff-{uuid.uuid4().hex[:8]}"
    await _publish(bus, _event("identity.user.issued", {"user_id": user, "at": time.time()}))
    await _publish(bus, _event("identity.user.suspended", {"user_id": user}))  # no `at`
    await bus.js.publish(bus.naming.subject("identity.user.suspended"), b"not json")
    # Events arrive in order: once the marker is applied, the ones before it were seen.
    await _publish(bus, _event("identity.user.suspended", {"user_id": marker, "at": time.time()}))

    await _eventually(lambda: watched.is_revoked({"sub": marker, "iat": 0}), within=2.0)
    assert not watched.is_revoked({"jti": "x", "sub": user, "iat": 0})


async def test_a_restarted_service_relearns_revocations(bus: EventBus) -> None:
    user = f"staff-{uuid.uuid4().hex[:8]}"
    first = RevocationList()
    watcher = RevocationWatcher(bus, first)
    await watcher.start()
    await _publish(bus, _event("identity.user.deleted", {"user_id": user, "at": time.time()}))
    await _eventually(lambda: first.is_revoked({"sub": user, "iat": 0}), within=2.0)
    await watcher.stop()

    relearned = RevocationList()
    restarted = RevocationWatcher(bus, relearned)
    await restarted.start()  # returns once the backlog is applied
    try:
        assert relearned.is_revoked({"sub": user, "iat": 0})
    finally:
        await restarted.stop()


async def test_revocation_reaches_the_verifier(
    bus: EventBus, watched: RevocationList, jwt_keys: TestKeySet
) -> None:
    verifier = JWKSVerifier(
        jwt_keys.jwks_url, issuer=TEST_ISSUER, audience=TEST_AUDIENCE, revocations=watched
    )
    user = f"staff-{uuid.uuid4().hex[:8]}"
    token = jwt_keys.mint(sub=user)
    try:
        await verifier.verify(token)
        await _publish(bus, _event("identity.user.suspended", {"user_id": user, "at": time.time()}))

        async def refusal() -> str | None:
            try:
                await verifier.verify(token)
            except Unauthorized as exc:
                return exc.detail
            return None

        started = time.monotonic()
        while (detail := await refusal()) is None:
            assert time.monotonic() - started < 2.0, "revocation not applied within 2s"
            await asyncio.sleep(0.01)
        assert detail == "token revoked"
    finally:
        await verifier.close()


# --- surviving a NATS restart --------------------------------------------------------------


async def test_watcher_survives_a_nats_restart(tmp_path: Path) -> None:
    """A NATS server of this test's own (same store, same port) is stopped and started again."""
    port, store = free_port(), tmp_path / "jetstream"
    with embedded_nats(store, port) as url:
        bus = await EventBus.connect(url, namespace="restart", name="revocation-test")
        revocations = RevocationList()
        watcher = RevocationWatcher(bus, revocations)
        await watcher.start()
        before = f"staff-{uuid.uuid4().hex[:8]}"
        await _publish(bus, _event("identity.user.suspended", {"user_id": before, "at": 1e9}))
        await _eventually(lambda: revocations.is_revoked({"sub": before, "iat": 0}), 2.0)
    await asyncio.sleep(0.5)
    with embedded_nats(store, port):
        try:
            await _eventually(lambda: bus.nc.is_connected, within=10.0)
            after = f"staff-{uuid.uuid4().hex[:8]}"
            await _publish(bus, _event("identity.user.suspended", {"user_id": after, "at": 1e9}))
            # The ordered consumer notices the missing heartbeats (2 x 1 s) and resumes.
            await _eventually(lambda: revocations.is_revoked({"sub": after, "iat": 0}), 10.0)
        finally:
            await watcher.stop()
            await bus.close()


# --- wiring into a service's lifespan ------------------------------------------------------


async def test_start_and_stop_auth_wire_verifier_and_watcher(
    bus: EventBus, jwt_keys: TestKeySet
) -> None:
    app = FastAPI()
    settings = ServiceSettings(
        jwks_url=jwt_keys.jwks_url, jwt_issuer=TEST_ISSUER, jwt_audience=TEST_AUDIENCE
    )
    revocations = RevocationList()
    verifier = JWKSVerifier(
        settings.jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        revocations=revocations,
    )
    await start_auth(app, bus, verifier=verifier, revocations=revocations)
    try:
        user = f"staff-{uuid.uuid4().hex[:8]}"
        token = jwt_keys.mint(sub=user)
        assert (await app.state.verifier.verify(token)).sub == user
        assert isinstance(app.state.revocation_watcher, RevocationWatcher)

        await _publish(bus, _event("identity.user.roles_changed", {"user_id": user, "at": 2e9}))

        assert app.state.revocations is revocations
        await _eventually(lambda: revocations.is_revoked({"sub": user, "iat": 0}), within=2.0)
    finally:
        await stop_auth(app)
