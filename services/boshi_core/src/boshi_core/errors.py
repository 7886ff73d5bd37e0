"""boshi_core's domain errors beyond the shared ones."""

from mch_common.errors import DomainError


class UnknownPerson(DomainError):
    """The request names a person atena has not registered (or whose event has not arrived)."""

    status, code, title = 422, "unknown-person", "Unknown person"
