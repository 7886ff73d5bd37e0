"""Structured JSON logs with a correlation id, and a last-line guard against My Numbers.

The guard is defence in depth: code must never log a My Number in the first place. Any run of
12 digits that passes the My Number check digit is replaced before the line is written.
"""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from mch_common.mynumber import redact_my_numbers

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

__all__ = ["JsonFormatter", "configure_logging", "correlation_id", "redact_my_numbers"]


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        cid = correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact_my_numbers(json.dumps(entry, ensure_ascii=False, default=str))


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
