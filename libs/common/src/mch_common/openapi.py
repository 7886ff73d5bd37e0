"""Every service's OpenAPI document as a contract: the bearer scheme with the scopes each
operation needs, and the problem+json answers each operation can give.

Nothing here is written twice: an operation's scopes are read from its `require_scope` /
`require_any_scope` dependencies (`ScopeCheck`), "authenticated" from `get_principal` in its
dependency tree, and its error answers from what those checks and its parameters can refuse.
A route declares an error the rules cannot see (a 400 of its own) with
`responses=problem_responses(400)`. The document is built once, at the first request for it;
nothing of this runs per request.
"""

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from mch_common.auth.deps import ScopeCheck, get_principal
from mch_common.errors import PROBLEM_CONTENT_TYPE
from mch_common.idempotency import KEY_PATTERN

BEARER = "bearer"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

BEARER_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "An access token from identity's `POST /oauth2/token` (a staff login on a "
    "registered terminal, or a service client's credentials). An operation's security "
    "requirement lists the scopes the token must carry; it must also be of this city's tenant "
    "and, for staff, carry its terminal.",
}

# RFC 9457 fields, plus the platform's `errors` (where and why, never the rejected value) and
# `correlation_id` (on a 500: finds the log line).
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details (`application/problem+json`).",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Each bad input: `loc` (where), `msg` and `type` (why).",
            "items": {"type": "object", "additionalProperties": True},
        },
        "correlation_id": {"type": "string"},
    },
}

DESCRIPTIONS = {
    400: "The request is not acceptable: a body that does not parse, a bad grant (problem+json)",
    401: "No valid bearer token (problem+json)",
    403: "The token lacks a scope, is of another tenant, has no terminal, or the record is "
    "outside the caller's reach (problem+json)",
    404: "Not found (problem+json)",
    409: "Conflicts with the current state, or a request with this Idempotency-Key is still "
    "running (problem+json)",
    422: "Invalid input: a parameter or the body does not match, a My Number in the URL, or an "
    "Idempotency-Key already used for another request (problem+json)",
    503: "A service this one depends on does not answer (problem+json)",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route whose errors the rules below cannot see."""
    return {status: _problem_answer(status) for status in statuses}


def _problem_answer(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or DESCRIPTIONS.get(status, "Error (problem+json)"),
        "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_REF}},
    }


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _has_parameters(dependant: Dependant) -> bool:
    return any(
        d.path_params or d.query_params or d.header_params or d.cookie_params or d.body_params
        for d in (dependant, *_all_dependants(dependant))
    )


def _all_dependants(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _all_dependants(dependency)


def security_requirements(checks: list[ScopeCheck]) -> list[dict[str, list[str]]]:
    """OpenAPI's security requirements for the scope checks of one operation: the listed
    requirements are alternatives, the scopes inside one are all needed."""
    needed = sorted({s for check in checks if not check.any_of for s in check.scopes})
    alternatives = [check.scopes for check in checks if check.any_of]
    return [
        {BEARER: sorted({*needed, *choice})} for choice in itertools.product(*alternatives)
    ] or [{BEARER: needed}]


def api_routes(app: FastAPI) -> Iterator[Any]:
    """The app's API routes as the OpenAPI generator sees them (included routers resolved):
    each has `path_format`, `methods`, `dependant`, `responses`, `include_in_schema`."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            yield context


def takes_idempotency_key(route: Any) -> bool:
    """A scoped POST working in the request's transaction (`mch_common.web.Session`): it
    honours an `Idempotency-Key` (mch_common.idempotency)."""
    from mch_common.web import get_session  # web builds its apps with this module

    calls = list(_calls(route.dependant))
    return (
        "POST" in route.methods
        and get_session in calls
        and any(isinstance(call, ScopeCheck) for call in calls)
    )


IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN},
    "description": "Makes a retry safe (IETF httpapi Idempotency-Key draft): a client-chosen "
    "unique key (a UUID) for this request. Sent again with the same request by the same "
    "caller within 24 hours, the first answer is replayed (with `Idempotency-Replayed: true`) "
    "and nothing changes a second time; with another request, 422; while the first is still "
    "running, 409. An error answer changed nothing and is not kept. An answer that held a "
    "secret or a My Number is not replayed: 409 says it was done.",
}


def operation_contract(route: Any) -> tuple[list[dict[str, list[str]]], list[int]]:
    """The operation's security requirements ([] when public) and its error statuses."""
    calls = list(_calls(route.dependant))
    checks = [call for call in calls if isinstance(call, ScopeCheck)]
    authenticated = bool(checks) or get_principal in calls
    statuses = []
    if route.dependant.body_params:
        statuses.append(400)  # a body that is not well-formed JSON or form data
    if authenticated:
        statuses.append(401)
    if checks:
        statuses.append(403)
    if route.dependant.path_params:
        statuses.append(404)
    if checks and _UNSAFE_METHODS & route.methods:
        statuses.append(409)
    if _has_parameters(route.dependant) or takes_idempotency_key(route):
        statuses.append(422)
    if not authenticated:
        return [], statuses
    return security_requirements(checks) if checks else [{BEARER: []}], statuses


def contract_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with the contract filled in (cached on the app)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {BEARER: BEARER_SCHEME}
    for route in api_routes(app):
        security, statuses = operation_contract(route)
        for method in route.methods:
            operation = document["paths"][route.path_format].get(method.lower())
            if operation is None:
                continue
            operation["security"] = security
            if takes_idempotency_key(route):
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY_PARAMETER)
            answers = operation.setdefault("responses", {})
            for status in statuses:
                answers.setdefault(str(status), {})
            for status in answers:
                if status.isdigit() and int(status) >= 400:  # every error is problem+json
                    own = route.responses.get(int(status)) or route.responses.get(status) or {}
                    answers[status] = _problem_answer(int(status), own.get("description"))
    # FastAPI's own 422 schemas describe a JSON body the problem handlers never send.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = document
    return document
