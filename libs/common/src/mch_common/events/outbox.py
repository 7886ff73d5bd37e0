"""The outbox's rule for every event: no My Number, ever. Events are written to the outbox in
the caller's transaction by its unit of work (mch_common.work), or as a batch row
(mch_common.events.batch), never published directly; once that transaction commits, this
process's relays are woken to publish them (`written_in`)."""

import weakref
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from mch_common.db_session import after_commit
from mch_common.mynumber import contains_my_number


class Relay(Protocol):
    def wake(self) -> None: ...


# Weak references, so that a relay stopped and dropped is not kept (a list, not a WeakSet:
# iterating one was 1 % of a notification's CPU, on every commit that wrote events).
_RELAYS: "list[weakref.ref[Relay]]" = []


def watch_outbox(relay: Relay) -> None:
    """`relay.wake()` whenever a transaction of this process that wrote events commits."""
    if all(ref() is not relay for ref in _RELAYS):
        _RELAYS.append(weakref.ref(relay))


def outbox_committed() -> None:
    dropped = False
    for ref in _RELAYS:
        relay = ref()
        if relay is None:
            dropped = True
        else:
            relay.wake()
    if dropped:
        _RELAYS[:] = [ref for ref in _RELAYS if ref() is not None]


def written_in(session: AsyncSession) -> None:
    """The session's transaction wrote events: the relays publish them once it commits."""
    after_commit(session, outbox_committed)


class MyNumberInEventError(ValueError):
    """Raised when an event payload holds something that passes the My Number check digit."""


def assert_no_my_number(payload: str) -> None:
    if contains_my_number(payload):
        raise MyNumberInEventError(
            "event payload contains a My Number; events must never carry one"
        )
