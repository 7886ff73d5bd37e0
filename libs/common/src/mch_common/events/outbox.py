"""Writing events: an outbox row in the caller's transaction, never a direct publish.

An event emitted at the top level of a transaction is queued on the session and written with
the next statement's round trip, not one of its own: with the access record when that comes
next (`mch_common.audit`), as one INSERT before any other statement, or just before commit.
A rollback drops the queue. Inside a savepoint, or before the session has begun a transaction,
the row is written at once (so it goes with a savepoint that is rolled back).
"""

from typing import Any

from sqlalchemy import event as orm_event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from mch_common.events.envelope import CloudEvent
from mch_common.logs import correlation_id
from mch_common.mynumber import contains_my_number

_INSERT = text(
    "INSERT INTO outbox (event_id, subject, envelope) "
    "VALUES (CAST(:event_id AS uuid), :subject, CAST(:envelope AS jsonb))"
)
# The queued rows in order, as one statement; a CTE of the same shape rides on another INSERT.
QUEUED_ROWS = (
    "SELECT * FROM unnest(CAST(:outbox_event_ids AS uuid[]), CAST(:outbox_subjects AS text[]),"
    " CAST(:outbox_envelopes AS jsonb[]))"
)
_INSERT_QUEUED = text(f"INSERT INTO outbox (event_id, subject, envelope) {QUEUED_ROWS}")
_QUEUE = "mch.outbox_queue"


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
    if session.in_transaction() and not session.in_nested_transaction():
        session.info.setdefault(_QUEUE, []).append((event.id, event.type, envelope))
    else:
        # In a savepoint, or before the session began (nothing would end a queue that began
        # outside a transaction): the row goes now.
        await session.execute(
            _INSERT, {"event_id": event.id, "subject": event.type, "envelope": envelope}
        )
    return event


def take_queued_events(session: Session) -> dict[str, list[str]] | None:
    """Remove the session's queued outbox rows; returns `QUEUED_ROWS`' parameters, or None.
    A caller that takes them writes them in its own statement (outside any savepoint)."""
    if session.in_nested_transaction():
        return None  # the queue belongs to the top level; a savepoint may yet be rolled back
    queued = session.info.pop(_QUEUE, None)
    if not queued:
        return None
    event_ids, subjects, envelopes = (list(column) for column in zip(*queued, strict=True))
    return {
        "outbox_event_ids": event_ids,
        "outbox_subjects": subjects,
        "outbox_envelopes": envelopes,
    }


def _write_queued(session: Session) -> None:
    if (params := take_queued_events(session)) is not None:
        session.execute(_INSERT_QUEUED, params)


# On the ORM Session class: every AsyncSession runs one underneath.
@orm_event.listens_for(Session, "do_orm_execute")
def _before_any_statement(state: ORMExecuteState) -> None:
    _write_queued(state.session)  # so that the transaction's own reads see its events


@orm_event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    _write_queued(session)


@orm_event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_QUEUE, None)  # rolled back (a commit has emptied it already)
