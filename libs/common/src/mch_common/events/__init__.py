"""The event backbone: CloudEvents envelope, transactional outbox, relay, idempotent consumer."""

from mch_common.events.bus import EventBus, EventNaming
from mch_common.events.consumer import EventConsumer, Handler
from mch_common.events.envelope import CloudEvent
from mch_common.events.outbox import emit_event
from mch_common.events.relay import OutboxRelay

__all__ = [
    "CloudEvent",
    "EventBus",
    "EventConsumer",
    "EventNaming",
    "Handler",
    "OutboxRelay",
    "emit_event",
]
