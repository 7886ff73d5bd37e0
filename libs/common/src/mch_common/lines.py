"""Per-line error reports of batch inputs (a registry load, an import of an export): a rejected
line is named by where and why, never by its value (it is a person's data); every valid line is
still taken."""

import codecs
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# A report keeps this many rejections; the rest are counted (and passed to `on_error`).
MAX_KEPT_ERRORS = 10_000


@dataclass(frozen=True)
class LineError:
    line: int
    field: str
    reason: str


class Rejections(Protocol):
    rejected: int
    errors: list[LineError]


def record_rejection(
    report: Rejections, error: LineError, on_error: Callable[[LineError], None] | None = None
) -> None:
    """Count the rejected line, keep it for the report while there is room, and pass it on as
    it comes (an error file, a line on stderr)."""
    report.rejected += 1
    if len(report.errors) < MAX_KEPT_ERRORS:
        report.errors.append(error)
    if on_error is not None:
        on_error(error)


def detect_encoding(head: bytes) -> str:
    """The encoding of a batch file from its first bytes: UTF-8 (with or without BOM) when
    they decode as such, else Shift_JIS (cp932, the Windows superset registry systems actually
    write)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # A multi-byte character may be cut at the end of the sample.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp932"
    return "utf-8"
