"""Structured JSON logs with a correlation id, and a last-line guard against My Numbers.

Every logger, uvicorn's included, writes through `JsonFormatter` on stdout. An exception is
logged as its type, its PostgreSQL SQLSTATE when it has one, and its stack frames, never its
message: asyncpg's and SQLAlchemy's messages quote the values of a statement, other libraries'
may quote their input. The My Number guard is defence in depth: code must never log a My Number
in the first place. Any run of 12 digits that passes the My Number check digit is replaced
before the line is written.
"""

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from mch_common.mynumber import redact_my_numbers

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

__all__ = [
    "UVICORN_LOGGERS",
    "JsonFormatter",
    "configure_logging",
    "correlation_id",
    "exception_summary",
    "redact_my_numbers",
    "uvicorn_log_config",
]

# uvicorn's loggers: without a handler of their own they propagate to the root's JSON handler.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
# Access lines only on request (`--log-level info`): a request's own lines say enough.
ACCESS_LOG_LEVEL = "WARNING"
_ACCESS = "uvicorn.access"


def _frames(tb: TracebackType | None) -> list[str]:
    return [
        f"{frame.f_code.co_filename}:{lineno} in {frame.f_code.co_name}"
        for frame, lineno in traceback.walk_tb(tb)
    ]


def exception_summary(exc: BaseException) -> list[dict[str, Any]]:
    """The exception chain, first cause first, as type, SQLSTATE (if any) and stack frames."""
    chain: list[dict[str, Any]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        entry: dict[str, Any] = {
            "type": f"{type(current).__module__}.{type(current).__qualname__}",
            "frames": _frames(current.__traceback__),
        }
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str):
            entry["sqlstate"] = sqlstate
        chain.append(entry)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    chain.reverse()
    return chain


def _message(record: logging.LogRecord) -> str:
    args = record.args
    if record.name == _ACCESS and isinstance(args, tuple) and len(args) == 5:
        # uvicorn's access line: client, method, path with query, HTTP version, status. A
        # query string can hold a name or an address searched for: the path alone is logged.
        client, method, path, version, status = args
        return str(record.msg) % (client, method, str(path).split("?", 1)[0], version, status)
    return record.getMessage()


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": _message(record),
        }
        cid = correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = exception_summary(record.exc_info[1])
        return redact_my_numbers(json.dumps(entry, ensure_ascii=False, default=str))


def uvicorn_log_config(service: str, level: str = "INFO") -> dict[str, Any]:
    """uvicorn's `log_config` for a service: the root writes JSON lines on stdout and uvicorn's
    loggers propagate to it, so nothing uvicorn writes bypasses the formatter and the guard."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "service": service}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            name: {
                "handlers": [],
                "propagate": True,
                **({"level": ACCESS_LOG_LEVEL} if name == _ACCESS else {}),
            }
            for name in UVICORN_LOGGERS
        },
    }


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stdout for every logger. uvicorn started with its own (plain text)
    configuration has handlers on its loggers: they are dropped, and the loggers propagate to
    the root. A logger without handlers is left as it is (`--no-access-log` keeps it silent)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if logger.handlers:
            logger.handlers.clear()
            logger.propagate = True
