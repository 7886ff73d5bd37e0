"""UUIDv7 (RFC 9562): time-ordered ids, so event ids sort by creation time."""

import os
import time
import uuid

_new = object.__new__
_set = object.__setattr__  # a UUID is immutable: its __setattr__ refuses
_UNKNOWN = uuid.SafeUUID.unknown


def uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b, 62 bits
    # As uuid.UUID(int=value) makes it, without the checks of its arguments that a value
    # made here always passes (3.2 -> 2.4 µs; a request makes several).
    made = _new(uuid.UUID)
    _set(made, "int", value)
    _set(made, "is_safe", _UNKNOWN)
    return made
