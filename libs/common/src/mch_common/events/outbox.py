"""The outbox's rule for every event: no My Number, ever. Events are written to the outbox in
the caller's transaction by its unit of work (mch_common.work), or as a batch row
(mch_common.events.batch), never published directly."""

from mch_common.mynumber import contains_my_number


class MyNumberInEventError(ValueError):
    """Raised when an event payload holds something that passes the My Number check digit."""


def assert_no_my_number(payload: str) -> None:
    if contains_my_number(payload):
        raise MyNumberInEventError(
            "event payload contains a My Number; events must never carry one"
        )
