"""Writing events: an outbox row in the caller's transaction, never a direct publish."""

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mch_common.events.envelope import CloudEvent
from mch_common.logs import correlation_id
from mch_common.mynumber import contains_my_number

_INSERT = text(
    "INSERT INTO outbox (event_id, subject, envelope) "
    "VALUES (CAST(:event_id AS uuid), :subject, CAST(:envelope AS jsonb))"
)


class MyNumberInEventError(ValueError):
    """Raised when an event payload holds something that passes the My Number check digit."""


def assert_no_my_number(payload: str) -> None:
    if contains_my_number(payload):
        raise MyNumberInEventError(
            "event payload contains a My Number; events must never carry one"
        )


async def emit_event(
    session: AsyncSession,
    *,
    source: str,
    type: str,
    data: dict[str, Any],
    tenant: str,
    subject: str | None = None,
) -> CloudEvent:
    """Queue an event in the current transaction; it is published only if that commits."""
    event = CloudEvent(
        source=source,
        type=type,
        subject=subject,
        data=data,
        tenant=tenant,
        correlationid=correlation_id.get(),
    )
    # Serialised once: the same text is checked and stored.
    envelope = event.model_dump_json()
    assert_no_my_number(envelope)
    await session.execute(
        _INSERT, {"event_id": event.id, "subject": event.type, "envelope": envelope}
    )
    return event
