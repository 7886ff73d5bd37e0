"""Unhandled errors, the My Number guard on URLs, `Cache-Control`, and what a log line holds."""

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI, Response

from mch_common.logs import (
    UVICORN_LOGGERS,
    JsonFormatter,
    configure_logging,
    exception_summary,
    uvicorn_log_config,
)
from mch_common.mynumber import generate_my_number
from mch_common.routes import ServiceRouter
from mch_common.web import create_service_app

MY_NUMBER = generate_my_number()
PHONE = "093-555-0147"


class StatementFailed(Exception):
    sqlstate = "57P01"


def build_app() -> FastAPI:
    router = ServiceRouter()

    @router.get("/persons")
    async def search(town: str | None = None) -> dict[str, str | None]:
        return {"town": town}

    @router.get("/persons/{person_no}")
    async def read(person_no: str) -> dict[str, str]:
        return {"person_no": person_no}

    @router.post("/crash")
    async def crash() -> None:
        try:
            raise StatementFailed(f"INSERT failed, parameters ('{PHONE}', '{MY_NUMBER}')")
        except StatementFailed as exc:
            raise RuntimeError(f"while registering {PHONE}") from exc

    @router.get("/public")
    async def public(response: Response) -> dict[str, str]:
        response.headers["Cache-Control"] = "max-age=60"
        return {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    return create_service_app(
        service="demo", title="demo", description="demo", lifespan=lifespan, routers=[router]
    )


@contextlib.asynccontextmanager
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = build_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


class JsonLines(logging.Handler):
    """The lines the services' formatter writes, formatted when logged (as a stream would)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter("demo"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_lines() -> Iterator[list[str]]:
    handler = JsonLines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(level)


async def test_an_unhandled_error_is_one_json_line_and_a_500_with_the_correlation_id(
    json_lines: list[str],
) -> None:
    async with client() as c:
        response = await c.post("/crash", headers={"x-correlation-id": "cid-crash-1"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-correlation-id"] == "cid-crash-1"
    assert response.json()["correlation_id"] == "cid-crash-1"
    assert PHONE not in response.text

    errors = [line for line in json_lines if '"exception"' in line]
    assert len(errors) == 1, json_lines
    (line,) = errors
    entry = json.loads(line)
    assert entry["correlation_id"] == "cid-crash-1"
    assert entry["level"] == "ERROR"
    cause, error = entry["exception"]
    assert cause["type"].endswith("StatementFailed")
    assert cause["sqlstate"] == "57P01"
    assert error["type"] == "builtins.RuntimeError"
    assert any(" in crash" in frame for frame in error["frames"])
    # The messages quote the statement's values: neither is in the line.
    assert PHONE not in line
    assert MY_NUMBER not in line
    assert "[REDACTED]" not in line


@pytest.mark.parametrize(
    "url",
    [
        f"/persons?town={MY_NUMBER}",
        f"/persons?town=%E5%B0%8F%E5%80%89{MY_NUMBER}",  # percent-encoded, glued to a name
        f"/persons?{MY_NUMBER}=1",
        f"/persons/{MY_NUMBER}",
        f"/nowhere/{MY_NUMBER}/x",
    ],
)
async def test_a_my_number_in_a_url_is_refused_without_echo(url: str) -> None:
    async with client() as c:
        response = await c.get(url)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "My Number" in response.json()["detail"]
    assert MY_NUMBER not in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_other_digits_in_a_url_pass() -> None:
    not_a_my_number = MY_NUMBER[:11] + str((int(MY_NUMBER[11]) + 1) % 10)
    async with client() as c:
        search = await c.get(f"/persons?town={not_a_my_number}")
        read = await c.get("/persons/1234567897")
    assert search.status_code == 200
    assert read.status_code == 200


async def test_api_answers_are_no_store_operational_ones_are_not() -> None:
    async with client() as c:
        for url in ("/persons", "/persons/1234567897", "/nowhere"):
            response = await c.get(url)
            assert response.headers["cache-control"] == "no-store", url
        assert (await c.post("/crash")).headers["cache-control"] == "no-store"
        # A route that says how it may be cached keeps its own header.
        assert (await c.get("/public")).headers["cache-control"] == "max-age=60"
        for url in ("/healthz", "/metrics", "/openapi.json", "/docs"):
            response = await c.get(url)
            assert response.status_code == 200, url
            assert "cache-control" not in response.headers, url


def test_the_access_line_leaves_out_the_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/persons?kana=%E3%83%A4%E3%83%9E%E3%83%80", "1.1", 200),
        None,
    )
    entry = json.loads(JsonFormatter("demo").format(record))
    assert entry["message"] == '127.0.0.1:5000 - "GET /persons HTTP/1.1" 200'


def test_exception_summary_follows_the_context_and_skips_messages() -> None:
    try:
        try:
            raise KeyError(PHONE)
        except KeyError:
            raise ValueError(PHONE) from None
    except ValueError as exc:
        summary = exception_summary(exc)
    assert [e["type"] for e in summary] == ["builtins.ValueError"]  # `from None` hides the first
    assert PHONE not in json.dumps(summary)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    names = ("", *UVICORN_LOGGERS)
    saved = {
        n: (
            logging.getLogger(n).handlers[:],
            logging.getLogger(n).level,
            logging.getLogger(n).propagate,
        )
        for n in names
    }
    yield
    for n, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(n)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_takes_over_uvicorns_loggers() -> None:
    plain = logging.StreamHandler()
    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addHandler(plain)
        logging.getLogger(name).propagate = False
    configure_logging("demo")
    for name in ("uvicorn.error", "uvicorn.access"):
        assert logging.getLogger(name).handlers == [], name
        assert logging.getLogger(name).propagate, name
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler.formatter, JsonFormatter)


def test_uvicorns_log_config_sends_its_loggers_to_the_json_root() -> None:
    config = uvicorn_log_config("demo")
    assert config["root"]["handlers"] == ["stdout"]
    assert config["formatters"]["json"]["()"] is JsonFormatter
    for name in UVICORN_LOGGERS:
        assert config["loggers"][name]["handlers"] == []
        assert config["loggers"][name]["propagate"] is True
