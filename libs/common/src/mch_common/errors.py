"""Domain errors and their RFC 9457 problem+json rendering.

Services raise these; they never build HTTP responses. Messages must never carry personal
data beyond what the caller sent in the URL (never a My Number): they end up in logs too.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://mch.example.jp/problems/"


class DomainError(Exception):
    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        # For a refusal's access record (mch_common.refusals): to commit after the rollback,
        # already committed, and, when the answer hides it (a refusal answered as a miss),
        # what really happened.
        self.pending_record: Callable[[Any], Awaitable[None]] | None = None
        self.access_recorded = False
        self.refusal_outcome: str | None = None
        self.refusal_reason: str | None = None


class InvalidInput(DomainError):
    status, code, title = 422, "invalid-input", "Invalid input"


class NotFound(DomainError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Forbidden"


class ServiceUnavailable(DomainError):
    status, code, title = 503, "unavailable", "Service unavailable"


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    if extensions:
        body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=headers)


def internal_error_response(*, instance: str, correlation_id: str) -> JSONResponse:
    """The answer to an unhandled error (the shared middleware logs it): nothing about the
    error itself, and the correlation id that finds its log line."""
    return problem_response(
        status=500,
        code="internal",
        title="Internal error",
        detail="An unexpected error occurred; it has been logged with the correlation id.",
        instance=instance,
        extensions={"correlation_id": correlation_id},
    )


def my_number_in_url_response(*, instance: str) -> JSONResponse:
    return problem_response(
        status=422,
        code="invalid-input",
        title="Invalid input",
        detail="A My Number is never sent in a URL (path or query parameter); send it in the "
        "request body.",
        instance=instance,
    )


def nul_in_url_response(*, instance: str) -> JSONResponse:
    return problem_response(
        status=422,
        code="invalid-input",
        title="Invalid input",
        detail="A NUL character is not accepted in a URL (path or query parameter).",
        instance=instance,
    )


def _safe_validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Pydantic's errors echo the rejected input; it may be a My Number, so only say where and why.
    return [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]


def install_problem_handlers(
    app: FastAPI, *, on_error: Callable[[Request, DomainError], Awaitable[None]] | None = None
) -> None:
    """problem+json for every error; `on_error` sees each DomainError first (the web app
    records refusals on routes about a person with it)."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        if on_error is not None:
            await on_error(request, exc)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            instance=request.url.path,
            errors=exc.errors,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(
            status=422,
            code="invalid-input",
            title="Invalid input",
            detail="The request does not match the expected format; see errors.",
            instance=request.url.path,
            errors=_safe_validation_errors(exc),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            status=exc.status_code,
            code="http-" + str(exc.status_code),
            title=str(exc.detail) if exc.status_code != 404 else "Not found",
            detail=str(exc.detail),
            instance=request.url.path,
        )
