"""The services' routes: FastAPI's `APIRoute`, its request handled by a plan made once.

FastAPI (0.165) works out, on every request, what its dependency tree is made of: the cache
key and whether scopes are used of every dependency, whether each one is a generator, a
coroutine or plain, the content type through `email.message`, the endpoint's context for
error messages. On a service's write that is about a fifth of the request's CPU
(docs/benchmarks.md, issue 18). `ServiceRoute` makes those decisions once, when the route is
built, and on each request calls what they chose: FastAPI's own functions validate the
parameters and serialise the answer; a JSON body of one model is validated from its bytes by
pydantic (one it refuses goes FastAPI's way: the same errors, the same answers, see
`_from_bytes`); the generator dependencies are entered in the same exit stacks (`Session`
commits before the answer is sent, as before), but without the anyio cancel scope FastAPI
shields their exit with (see `_solver`). An answer that is exactly an instance of the response
model is serialised without the validation call that would hand it back as it is. A matched
route runs as `service_route_app`, without FastAPI's route-level layer of exception handlers.

A route that uses what the plan does not cover (a sync or sync-generator dependency, a form, a
`Response` or `BackgroundTasks` parameter, security scopes, a streamed answer, a dependency's
concurrency limit), a request whose body is not plain JSON, and an app with
`dependency_overrides` set are handled by FastAPI's own handler, unchanged.

Every service's routers are `mch_common.routes.ServiceRouter`s.
"""

import json
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, get_args

from fastapi import APIRouter, FastAPI, params
from fastapi._body_limit import get_body_limit_error
from fastapi._compat import ModelField
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import (
    Dependant,
    _is_async_gen_callable,
    _is_coroutine_callable,
    _is_gen_callable,
    _uses_scopes,
)
from fastapi.dependencies.utils import (
    _get_param_aliases,
    _get_param_model,
    _should_embed_body_fields,
    request_body_to_args,
    request_params_to_args,
)
from fastapi.exceptions import FastAPIError, RequestValidationError
from fastapi.routing import (
    APIRoute,
    _effective_route_context_var,
    _extract_endpoint_context,
    iter_route_contexts,
    serialize_response,
)
from fastapi.telemetry._api import _validation_failed
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel, Strict, TypeAdapter, ValidationError
from pydantic_core import PydanticUndefined
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_Solve = Callable[[Request, dict[Any, Any], list[Any]], Awaitable[dict[str, Any]]]
_JSON = frozenset({"application/json", "application/json; charset=utf-8"})


class ServiceRoute(APIRoute):
    """An `APIRoute` whose request is handled by a plan made once (see the module)."""

    def get_route_handler(self) -> Handler:
        fallback = super().get_route_handler()
        # As FastAPI's: an included router's route is built as its effective context.
        route: Any = self
        effective = _effective_route_context_var.get()
        if effective is not None and effective.original_route is self:
            route = effective
        plan = _Plan.of(route)
        handler = fallback
        if plan is not None:
            handler = plan.handler(fallback, route.dependency_overrides_provider)
        if effective is not None and effective.original_route is self:
            # What mch_common.route_dispatch calls for this route of its included router.
            effective.service_app = service_route_app(handler)
        return handler


def service_route_app(handler: Handler) -> ASGIApp:
    """A route's handler as an ASGI app: FastAPI's `request_response` (its two exit stacks:
    a `Session` commits before the answer is sent, a request-scoped dependency closes after),
    without the route's own layer of the app's exception handlers and the wrapper of `send`
    it adds. An error goes on to the app's `ExceptionMiddleware`, which answers it with the
    same handlers, after the same exit stacks (FastAPI's layer: 5 % of a request that does
    nothing, counted in instructions)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        response = None
        async with AsyncExitStack() as request_stack:
            scope["fastapi_inner_astack"] = request_stack
            async with AsyncExitStack() as function_stack:
                scope["fastapi_function_astack"] = function_stack
                response = await handler(request)
            if response is None:  # a dependency's exit swallowed the handler's error
                raise FastAPIError(
                    "Response not awaited: a dependency with yield caught the error of the "
                    "route and did not raise it again"
                )
            await response(scope, receive, send)

    return app


class ServiceRouter(APIRouter):
    """An `APIRouter` whose routes are `ServiceRoute`s."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(route_class=ServiceRoute, **kwargs)


def check_service_routes(app: FastAPI) -> None:
    """Refuse (TypeError) an app with a route not made by a `ServiceRouter`: it would be
    served by FastAPI's slower handler without anyone noticing."""
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and not isinstance(route, ServiceRoute):
            raise TypeError(f"{route.path}: make its router a mch_common.routes.ServiceRouter")


class _Unsupported(Exception):
    """The route uses what the plan does not cover: FastAPI's handler serves it."""


@dataclass(frozen=True)
class _Plan:
    dependant: Dependant
    endpoint: Callable[..., Awaitable[Any]]
    solve: _Solve
    body_field: Any
    embed_body_fields: bool
    # The body's model validated straight from the request's bytes, or None (see `_from_bytes`)
    body_from_bytes: Callable[[bytes], Any] | None
    status_code: int  # the route's, else the response class's own (200)
    response_field: Any
    response_args: dict[str, Any]
    dump_json: bool
    response_class: type[Response]
    endpoint_ctx: Any
    # The response model's class when an answer that is already one of it (exactly) is what
    # its validation would give back (pydantic does not validate an instance again): such an
    # answer is serialised without FastAPI's validation call. None: every answer is validated.
    answered_as: type[BaseModel] | None
    body_allowed: bool  # FastAPI's rule: not 1xx, 204, 205 or 304

    @classmethod
    def of(cls, route: Any) -> "_Plan | None":
        dependant: Dependant = route.dependant
        call = dependant.call
        response_class = route.response_class
        default_class = isinstance(response_class, DefaultPlaceholder)
        actual_class = response_class.value if default_class else response_class
        if (
            call is None
            or not _is_coroutine_callable(call)
            or _is_gen_callable(call)
            or _is_async_gen_callable(call)
            or route.is_json_stream
            or route.stream_item_field is not None
            or (
                route.body_field is not None
                and isinstance(route.body_field.field_info, params.Form)
            )
            or actual_class is not JSONResponse
        ):
            return None
        try:
            solve = _solver(dependant, top=True)
        except _Unsupported:
            return None
        return cls(
            dependant=dependant,
            endpoint=call,
            solve=solve,
            body_field=route.body_field,
            embed_body_fields=route._embed_body_fields,
            body_from_bytes=_from_bytes(dependant, route._embed_body_fields),
            status_code=route.status_code or 200,
            response_field=route.response_field,
            response_args={
                "include": route.response_model_include,
                "exclude": route.response_model_exclude,
                "by_alias": route.response_model_by_alias,
                "exclude_unset": route.response_model_exclude_unset,
                "exclude_defaults": route.response_model_exclude_defaults,
                "exclude_none": route.response_model_exclude_none,
            },
            dump_json=route.response_field is not None and default_class,
            response_class=actual_class,
            endpoint_ctx=_extract_endpoint_context(call),
            answered_as=_answered_as(route.response_field),
            body_allowed=is_body_allowed_for_status_code(route.status_code or 200),
        )

    def handler(self, fallback: Handler, overrides: Any) -> Handler:
        async def app(request: Request) -> Response:
            # FastAPI's telemetry, when on, puts its record of the request in the scope (and in
            # OpenTelemetry's context, slower to look in); FastAPI's handler fills it.
            if (overrides is not None and overrides.dependency_overrides) or (
                request.scope.get("fastapi.telemetry") is not None
            ):
                return await fallback(request)
            body: Any = PydanticUndefined
            model: Any = PydanticUndefined  # the body, validated from its bytes
            if self.body_field is not None:
                content_type = request.headers.get("content-type")
                if content_type is None or content_type.lower() not in _JSON:
                    return await fallback(request)  # FastAPI's content-type rules
                raw = await self._raw_body(request)
                if raw and self.body_from_bytes is not None:
                    with suppress(ValidationError):  # refused: FastAPI's way says why
                        model = self.body_from_bytes(raw)
                if model is PydanticUndefined:
                    body = self._json_body(request, raw)
            errors: list[Any] = []
            values = await self.solve(request, {}, errors)
            if model is not PydanticUndefined:
                values[self.body_field.name] = model
            elif self.body_field is not None:
                body_values, body_errors = await request_body_to_args(
                    body_fields=self.dependant.body_params,
                    received_body=body,
                    embed_body_fields=self.embed_body_fields,
                )
                values.update(body_values)
                errors += body_errors
            if errors:
                raise self._invalid(request, errors, body)
            answer = await self.endpoint(**values)
            if isinstance(answer, Response):
                return answer
            if self.dump_json and type(answer) is self.answered_as:
                content = self.response_field.serialize_json(answer, **self.response_args)
            else:
                content = await serialize_response(
                    field=self.response_field,
                    response_content=answer,
                    endpoint_ctx=self.endpoint_ctx,
                    dump_json=self.dump_json,
                    **self.response_args,
                )
            if self.dump_json and self.body_allowed:
                return JSONAnswer(content, self.status_code)
            response = (
                Response(content, self.status_code, media_type="application/json")
                if self.dump_json
                else self.response_class(content, self.status_code)
            )
            if not self.body_allowed:
                response.body = b""
            return response

        return app

    async def _raw_body(self, request: Request) -> bytes:
        """The body's bytes, a failure to read them answered as FastAPI answers it."""
        try:
            return await request.body()
        except HTTPException:
            raise
        except Exception as error:
            if MAX_BODY_SIZE_SCOPE_KEY in request.scope and (limit := get_body_limit_error(error)):
                raise limit from error
            raise HTTPException(400, "There was an error parsing the body") from error

    def _json_body(self, request: Request, raw: bytes) -> Any:
        """The body as FastAPI reads a JSON one (an empty body is no body)."""
        if not raw:
            return PydanticUndefined
        try:
            return json.loads(raw)
        except json.JSONDecodeError as error:
            invalid = RequestValidationError(
                [
                    {
                        "type": "json_invalid",
                        "loc": ("body", error.pos),
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": error.msg},
                    }
                ],
                body=error.doc,
                endpoint_ctx=self._context(request),
            )
            _validation_failed(invalid)
            raise invalid from error
        except Exception as error:
            raise HTTPException(400, "There was an error parsing the body") from error

    def _context(self, request: Request) -> Any:
        """The endpoint's context for an error's message, as FastAPI gives it."""
        context = dict(self.endpoint_ctx)
        if self.dependant.path:
            mount = request.scope.get("root_path", "").rstrip("/")
            context["path"] = f"{request.method} {mount}{self.dependant.path}"
        return context

    def _invalid(self, request: Request, errors: list[Any], body: Any) -> RequestValidationError:
        invalid = RequestValidationError(
            errors,
            body=None if body is PydanticUndefined else body,
            endpoint_ctx=self._context(request),
        )
        _validation_failed(invalid)
        return invalid


class JSONAnswer(Response):
    """JSON bytes already written, with a status that has a body, answered as `Response(
    content, status, media_type="application/json")` answers them, its two headers made here
    (Starlette's `init_headers` looks for each header it might add in those given)."""

    media_type = "application/json"

    def __init__(self, content: bytes, status_code: int) -> None:
        self.status_code = status_code
        self.background = None
        self.body = content
        self.raw_headers = [
            (b"content-length", str(len(content)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]


def _answered_as(field: ModelField | None) -> type[BaseModel] | None:
    """The response model's class if pydantic hands an instance of it back unvalidated."""
    if field is None:
        return None
    model = field.field_info.annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    return model if model.model_config.get("revalidate_instances", "never") == "never" else None


def _solver(dependant: Dependant, *, top: bool) -> _Solve:
    """What solving `dependant` takes, decided now: its sub-dependencies in order (each once a
    request, as FastAPI's cache does), then its path, query, header and cookie parameters."""
    if (
        dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.concurrency is not None
        or _uses_scopes(dependant=dependant)
        or (dependant.body_params and not top)
    ):
        raise _Unsupported()
    steps = []
    for sub in dependant.dependencies:
        call = sub.call
        if call is None:
            raise _Unsupported()
        enter: Any = None
        if _is_async_gen_callable(call):
            # contextlib's, made once: without the anyio cancel scope FastAPI puts around its
            # exit on every request (a sniffio lookup and a checkpoint, a tenth of a read's
            # CPU). A request cancelled mid-COMMIT is safe without it: mch_common.db_session
            # closes such a connection.
            kind, enter = "generator", asynccontextmanager(call)
        elif _is_coroutine_callable(call) and not _is_gen_callable(call):
            kind = "coroutine"
        else:
            raise _Unsupported()  # run in a thread by FastAPI
        key = (call, sub.scope) if sub.use_cache else None
        steps.append((sub, _solver(sub, top=False), kind, key, enter))
    # A path parameter declared `str` with nothing to check is the text the route matched:
    # taken as it is, without FastAPI's validation of each (5.6 µs a parameter).
    as_matched = [(f.name, f.alias) for f in dependant.path_params if _taken_as_matched(f)]
    path_params = [f for f in dependant.path_params if not _taken_as_matched(f)]
    # Likewise an optional `str` header with nothing to check is the header's text, or None
    # (FastAPI's look and validation: 11.3 µs a header against 0.24, measured; every atena
    # request has one).
    as_sent = [(f.name, n) for f in dependant.header_params if (n := _header_as_sent(f))]
    header_params = [f for f in dependant.header_params if not _header_as_sent(f)]
    params_in = [
        (fields, source)
        for fields, source in (
            (path_params, "path_params"),
            (dependant.query_params, "query_params"),
            (header_params, "headers"),
            (dependant.cookie_params, "cookies"),
        )
        if fields
    ]
    request_name = dependant.request_param_name

    async def solve(request: Request, cache: dict[Any, Any], errors: list[Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for sub, solve_sub, kind, key, enter in steps:
            if key is not None and key in cache:
                solved = cache[key]
            else:
                sub_errors: list[Any] = []
                sub_values = await solve_sub(request, cache, sub_errors)
                if sub_errors:
                    errors += sub_errors
                    continue
                if kind == "coroutine":
                    solved = await sub.call(**sub_values)  # type: ignore[misc]
                else:
                    stack = request.scope[
                        "fastapi_function_astack"
                        if sub.scope == "function"
                        else "fastapi_inner_astack"
                    ]
                    solved = await stack.enter_async_context(enter(**sub_values))
                if key is not None:
                    cache[key] = solved
            if sub.name is not None:
                values[sub.name] = solved
        if as_matched:
            matched = request.path_params
            for name, alias in as_matched:
                values[name] = matched[alias]
        if as_sent:
            headers = request.headers
            for name, header in as_sent:
                values[name] = headers.get(header)
        for fields, source in params_in:
            found, invalid = request_params_to_args(fields, getattr(request, source))
            values.update(found)
            errors += invalid
        if request_name is not None:
            values[request_name] = request
        return values

    return solve


def _taken_as_matched(field: ModelField) -> bool:
    info = field.field_info
    return info.annotation is str and not info.metadata and type(info) is params.Path


def _header_as_sent(field: ModelField) -> str | None:
    """The header's name in the request when `field` is an optional `str | None` header
    defaulting to None with nothing to check (no constraint, no other name to look under):
    FastAPI gives its first value as it is, or None. Else None (FastAPI's way)."""
    info = field.field_info
    if (
        type(info) is not params.Header
        or info.annotation != str | None
        or info.metadata
        or info.default is not None
        or info.validate_default
        or field.config
        or _get_param_model(field) is not None
    ):
        return None
    aliases = _get_param_aliases(field)
    return aliases[0][1] if len(aliases) == 1 else None


def _from_bytes(dependant: Dependant, embed: bool) -> Callable[[bytes], Any] | None:
    """The body's validator from its bytes in one step (pydantic's JSON parser), for a body
    that is one model, not embedded: 20-30 µs less than FastAPI's `json.loads` and validation
    of the result (`request_body_to_args`). A body it refuses goes FastAPI's way (the same
    errors: broken JSON, a lone surrogate, a byte order mark, an invalid field). For every
    body both accept it gives what FastAPI's way gives, except where pydantic reads JSON
    differently from Python objects, and a model using that goes FastAPI's way: a `Decimal`
    (`1e1` is 10 from the bytes, 10.0 from `json.loads`) and strict validation (a date in a
    JSON string passes it, a Python string does not)."""
    fields = dependant.body_params
    if len(fields) != 1 or embed or _should_embed_body_fields(fields):
        return None
    annotation = fields[0].field_info.annotation
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return None
    if _read_differently(annotation, set()):
        return None
    adapter: TypeAdapter[Any] = fields[0]._type_adapter
    return adapter.validate_json


def _read_differently(annotation: Any, seen: set[type]) -> bool:
    """Whether pydantic may read `annotation` from JSON otherwise than from `json.loads`'s
    objects (see `_from_bytes`), in it or in a model, list or union it holds."""
    if annotation is Decimal or isinstance(annotation, Strict):
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return False
        seen.add(annotation)
        return bool(annotation.model_config.get("strict")) or any(
            _read_differently(field.annotation, seen)
            or any(_read_differently(meta, seen) for meta in field.metadata)
            for field in annotation.model_fields.values()
        )
    return any(_read_differently(arg, seen) for arg in get_args(annotation))
