"""Anchoring the audit chain outside the database: each service publishes its chain head
(position, hash, time) to the JetStream stream `audit_anchor`, subject
`<namespace>.audit.anchor.<service>`. Whoever can rewrite the table cannot rewrite what NATS
already holds, so `verify_chain` checked against the latest anchor detects the newest records
deleted (the head below the anchor) and a re-hashed chain (the anchored record differs)."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from mch_common.events.bus import EventBus

ANCHOR_STREAM = "audit_anchor"
# The chain's start before any record: the first record links to it.
GENESIS_HASH = "0" * 64
# An anchor a minute at most: this keeps about two months of history per service.
ANCHORS_KEPT_PER_SERVICE = 100_000


@dataclass(frozen=True)
class ChainAnchor:
    """A sealed chain head as published: the record at `chain_pos` has `hash`. `start_pos`
    and `start_hash`: where the chain starts, the last record retired past retention
    (mch_common.audit_retention; 0 and the genesis hash while none was)."""

    service: str
    chain_pos: int
    hash: str
    at: datetime
    start_pos: int = 0
    start_hash: str = GENESIS_HASH

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "service": self.service,
                "chain_pos": self.chain_pos,
                "hash": self.hash,
                "at": self.at.isoformat(),
                "start_pos": self.start_pos,
                "start_hash": self.start_hash,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "ChainAnchor":
        body = json.loads(data)
        return cls(
            service=body["service"],
            chain_pos=int(body["chain_pos"]),
            hash=body["hash"],
            at=datetime.fromisoformat(body["at"]),
            start_pos=int(body.get("start_pos", 0)),
            start_hash=body.get("start_hash", GENESIS_HASH),
        )


class AuditAnchors:
    """One service's anchors on the bus: `publish` a head, read back the `latest`."""

    def __init__(self, bus: EventBus, service: str) -> None:
        self.bus = bus
        self.service = service
        self.stream = bus.naming.stream(ANCHOR_STREAM)
        self.subject = bus.naming.subject(f"audit.anchor.{service}")

    async def ensure_stream(self) -> None:
        """Create the shared stream if missing; every service runs this at start."""
        try:
            await self.bus.js.stream_info(self.stream)
        except NotFoundError:
            await self.bus.js.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=[self.bus.naming.subject("audit.anchor.>")],
                    retention=RetentionPolicy.LIMITS,
                    storage=StorageType.FILE,
                    max_msgs_per_subject=ANCHORS_KEPT_PER_SERVICE,
                    num_replicas=self.bus.stream_replicas,
                )
            )

    async def publish(
        self, *, chain_pos: int, hash: str, start: tuple[int, str] = (0, GENESIS_HASH)
    ) -> ChainAnchor:
        anchor = ChainAnchor(self.service, chain_pos, hash, datetime.now(UTC), *start)
        await self.bus.js.publish(
            self.subject,
            anchor.to_json(),
            stream=self.stream,
            headers={"Nats-Msg-Id": f"{self.service}:{start[0]}:{chain_pos}:{hash}"},
        )
        return anchor

    async def latest(self) -> ChainAnchor | None:
        try:
            message = await self.bus.js.get_last_msg(self.stream, self.subject)
        except NotFoundError:
            return None
        return ChainAnchor.from_json(message.data or b"")

    async def forget(self) -> None:
        """Drop this service's anchors: for a dev database just created, whose chain starts
        again from nothing."""
        try:
            await self.bus.js.purge_stream(self.stream, subject=self.subject)
        except NotFoundError:
            pass
