"""The event backbone: CloudEvents envelope, transactional outbox, relay, idempotent consumer."""

from mch_common.events.batch import BatchRow, batch_row, emit_events, read_outbox
from mch_common.events.bus import EventBus, EventNaming
from mch_common.events.consumer import EventConsumer, Handler
from mch_common.events.envelope import CloudEvent, event_source
from mch_common.events.relay import OutboxRelay

__all__ = [
    "BatchRow",
    "CloudEvent",
    "EventBus",
    "EventConsumer",
    "EventNaming",
    "Handler",
    "OutboxRelay",
    "batch_row",
    "emit_events",
    "event_source",
    "read_outbox",
]
