"""Refusing tokens before they expire: revoked token ids and revoked subjects.

Tokens are short-lived, but suspending a staff member, moving them to another ward or changing
their roles must take effect at once. `identity` announces these on its event stream; every
service keeps the list in memory, learned again from the stream after a restart.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import Field, ValidationError

from mch_common.auth.verifier import DEFAULT_LEEWAY
from mch_common.events.bus import EventBus, covering_filter
from mch_common.events.catalogue import EventPayload
from mch_common.events.envelope import CloudEvent

log = logging.getLogger("mch.auth.revocation")

IDENTITY_STREAM_SERVICE = "identity"
# The platform's revocation contract: the events identity emits (its catalogue, identity.events,
# is built from these) and every service applies.
TOKEN_REVOKED = "identity.token.revoked"  # noqa: S105 - not a secret
# Events after which every token the user already holds is refused.
USER_REVOKING_EVENTS = (
    "identity.user.revoked",
    "identity.user.suspended",
    "identity.user.transferred",
    "identity.user.deleted",
    "identity.user.roles_changed",
    "identity.user.password_changed",
)
# The same for a service client (`sub` = svc:<client_id>, in the event's `subject`).
CLIENT_REVOKING_EVENTS = (
    "identity.client.secret_rotated",
    "identity.client.scopes_changed",
    "identity.client.deactivated",
)
SUBJECT_REVOKING_EVENTS = frozenset(USER_REVOKING_EVENTS + CLIENT_REVOKING_EVENTS)


class UserRevoked(EventPayload):
    user_id: str
    at: float = Field(description="unix seconds (sub-second); the user's tokens issued before")


class ClientRevoked(EventPayload):
    client_id: str
    subject: str = Field(description="svc:<client_id>, the tokens' sub")
    at: float = Field(description="unix seconds (sub-second); the client's tokens issued before")


class TokenRevoked(EventPayload):
    jti: str
    exp: int


# Upper bound on a token's lifetime: a subject revocation older than this can refuse nothing.
DEFAULT_SUBJECT_TTL = 24 * 3600.0
PRUNE_EVERY = 60.0


class RevocationList:
    """In-memory revocations; `is_revoked` is a couple of dict look-ups, so it runs per request."""

    def __init__(
        self,
        *,
        subject_ttl: float = DEFAULT_SUBJECT_TTL,
        expiry_leeway: float = DEFAULT_LEEWAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jtis: dict[str, float] = {}
        # Verifiers accept a token this long after its `exp`: its revocation must last as long.
        self._expiry_leeway = expiry_leeway
        self._subjects: dict[str, float] = {}
        self._subject_ttl = subject_ttl
        self._clock = clock
        self._last_prune = clock()

    def revoke_jti(self, jti: str, exp: float) -> None:
        """Refuse one token; remembered until it would have expired anyway."""
        self._jtis[jti] = max(exp, self._jtis.get(jti, exp))
        self._maybe_prune()

    def revoke_subject(self, sub: str, at: float) -> None:
        """Refuse every token of `sub` issued before `at` (unix seconds)."""
        self._subjects[sub] = max(at, self._subjects.get(sub, at))
        self._maybe_prune()

    def is_revoked(self, claims: Mapping[str, object]) -> bool:
        jti = claims.get("jti")
        if isinstance(jti, str) and jti in self._jtis:
            return True
        sub = claims.get("sub")
        if not isinstance(sub, str):
            return False
        revoked_at = self._subjects.get(sub)
        if revoked_at is None:
            return False
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            return True  # cannot tell when it was issued: refuse rather than guess
        return iat < revoked_at

    def prune(self) -> int:
        """Forget revocations that can no longer refuse anything; returns how many went."""
        now = self._clock()
        self._last_prune = now
        expired_jtis = [jti for jti, exp in self._jtis.items() if exp + self._expiry_leeway < now]
        for jti in expired_jtis:
            del self._jtis[jti]
        stale_subjects = [s for s, at in self._subjects.items() if at + self._subject_ttl < now]
        for sub in stale_subjects:
            del self._subjects[sub]
        return len(expired_jtis) + len(stale_subjects)

    def __len__(self) -> int:
        return len(self._jtis) + len(self._subjects)

    def _maybe_prune(self) -> None:
        if self._clock() - self._last_prune >= PRUNE_EVERY:
            self.prune()


def apply_event(revocations: RevocationList, event: CloudEvent) -> bool:
    """Apply one identity event; returns whether it revoked anything."""
    data = event.data
    if event.type in SUBJECT_REVOKING_EVENTS:
        subject, at = data.get("subject", data.get("user_id")), data.get("at")
        if not isinstance(subject, str) or not _is_number(at):
            log.warning("ignoring %s event %s without subject/at", event.type, event.id)
            return False
        revocations.revoke_subject(subject, float(at))  # type: ignore[arg-type]
        return True
    if event.type == TOKEN_REVOKED:
        jti, exp = data.get("jti"), data.get("exp")
        if not isinstance(jti, str) or not _is_number(exp):
            log.warning("ignoring %s event %s without jti/exp", event.type, event.id)
            return False
        revocations.revoke_jti(jti, float(exp))  # type: ignore[arg-type]
        return True
    return False


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class RevocationWatcher:
    """Feeds a RevocationList from identity's stream.

    Ordered (ephemeral, unacknowledged) consumers replaying the stream from its start: every
    process needs every revocation, and a restarted one must learn the recent ones again. The
    ordered consumer recreates itself from the last sequence it saw when heartbeats stop, which
    is how it survives a NATS restart.
    """

    def __init__(
        self,
        bus: EventBus,
        revocations: RevocationList,
        *,
        idle_heartbeat: float = 1.0,
        catch_up_timeout: float = 5.0,
    ) -> None:
        self.bus = bus
        self.revocations = revocations
        self.applied = 0
        self._idle_heartbeat = idle_heartbeat
        self._catch_up_timeout = catch_up_timeout
        self._subs: list[JetStreamContext.PushSubscription] = []

    @property
    def subjects(self) -> tuple[str, ...]:
        naming = self.bus.naming
        # A consumer each, not one with filter_subjects: that needs NATS 2.10 and the dev
        # servers may be older.
        return (
            naming.subject(covering_filter(list(USER_REVOKING_EVENTS))),
            naming.subject(covering_filter(list(CLIENT_REVOKING_EVENTS))),
            naming.subject(TOKEN_REVOKED),
        )

    async def start(self) -> None:
        """Subscribe and wait (bounded) until the backlog is applied, so a restarted service
        does not accept already revoked tokens while it catches up."""
        stream = await self._ensure_identity_stream()
        for subject in self.subjects:
            handled = [0]

            async def on_message(msg: Msg, handled: list[int] = handled) -> None:
                self._handle(msg)
                handled[0] += 1

            sub = await self.bus.js.subscribe(
                subject,
                stream=stream,
                cb=on_message,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
                idle_heartbeat=self._idle_heartbeat,
            )
            self._subs.append(sub)
            await self._catch_up(sub, handled)

    async def stop(self) -> None:
        subs, self._subs = self._subs, []
        for sub in subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # noqa: BLE001 - the connection may already be closed
                log.debug("unsubscribe failed: %s", type(exc).__name__)

    async def _ensure_identity_stream(self) -> str:
        # Create only when missing: ensure_stream() would otherwise overwrite the limits that
        # identity itself set on its stream (its max_age, for one).
        name = self.bus.naming.stream(IDENTITY_STREAM_SERVICE)
        try:
            await self.bus.js.stream_info(name)
        except NotFoundError:
            await self.bus.ensure_stream(IDENTITY_STREAM_SERVICE)
        return name

    async def _catch_up(self, sub: JetStreamContext.PushSubscription, handled: list[int]) -> None:
        info = await sub.consumer_info()
        already = info.delivered.consumer_seq if info.delivered is not None else 0
        target = already + (info.num_pending or 0)
        deadline = time.monotonic() + self._catch_up_timeout
        while handled[0] < target:
            if time.monotonic() >= deadline:
                log.warning("revocations not fully replayed after %.0fs", self._catch_up_timeout)
                return
            await asyncio.sleep(0.01)

    def _handle(self, msg: Msg) -> None:
        try:
            event = CloudEvent.from_json_bytes(msg.data)
        except ValidationError:
            log.warning("ignoring a malformed event on %s", msg.subject)
            return
        if apply_event(self.revocations, event):
            self.applied += 1
