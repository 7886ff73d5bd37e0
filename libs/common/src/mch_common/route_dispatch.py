"""The app's routes found by the path's first segment.

FastAPI (0.165) finds a request's route by trying the app's routes in turn, and an included
router answers whether it matches by trying each of its own: in boshi_core a notification's
route (the 7th of 18) was found after 14 µs, a `/rules` route (the 18th) after 100 µs, on
every request. Every service route begins with a literal segment (`/people/...`,
`/rules/...`), so `FirstSegmentDispatch` sets aside, once, the routes each first segment can
reach, in their order, and FastAPI's own loop runs on those alone: on a copy of the app's
router that holds only them. What matches, and what answers 404, 405 or a trailing-slash
redirect, is what the whole router would answer, because every route that can match a path
with that first segment (or that path with or without its trailing slash) is in the copy.

A route whose first segment is a parameter or a `Host` route is tried for every path; a path
whose first segment no route names, a websocket and the lifespan go through the whole router.
FastAPI then matches an included router's route twice: once to learn that the router holds
one (`_IncludedRouter.matches`), and again to handle it (`_handle_selected`), through five
more layers: 3.2 % of a notification's instructions and 4.1 % of a profile read's.
Where every route a segment reaches is a FastAPI route of an included router (every service
route), the segment's routes are tried here, in the same order, and the first that matches
fully is handled as `_handle_selected` handles it: the same scope (the route, the path
parameters, the endpoint, the included router and the route's effective context) and the same
call (`APIRoute.handle`). A request no route matches fully (a 404, a 405, a redirect) goes
FastAPI's way on the segment's router, which answers it as before.

The app's own list of routes is counted on every request and set aside afresh when it grew (a
router included late); a route added to an already included router after the app's first
request is not seen (the services build every route before they serve).
"""

import copy

from fastapi import APIRouter
from fastapi.routing import (
    _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
    _FASTAPI_INCLUDED_ROUTER_KEY,
    APIRoute,
    _apply_router_form_limits,
    _EffectiveRouteContext,
    _get_fastapi_scope,
    _IncludedRouter,
    _update_scope,
    iter_route_contexts,
)
from fastapi.telemetry._api import _route_selected
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Host, Match
from starlette.types import ASGIApp, Receive, Scope, Send

# A segment's routes as they are tried: each FastAPI route with the router that included it,
# the ASGI app that handles it once matched (a ServiceRoute's, mch_common.routes; None: the
# route's `handle`) and the path it is known by.
_Leaves = list[tuple[_IncludedRouter, _EffectiveRouteContext, ASGIApp | None, str | None]]


class FirstSegmentDispatch:
    """Installed as the app router's innermost ASGI app (its `middleware_stack`)."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._routes_seen = -1
        self._by_segment: dict[str, tuple[APIRouter, _Leaves | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if len(self.router.routes) != self._routes_seen:
                self._set_aside()
            found = self._by_segment.get(_first_segment(get_route_path(scope)))
            if found is not None:
                scope.setdefault("router", self.router)  # url_for sees every route
                narrowed, leaves = found
                if leaves is None or not await self._handled(leaves, scope, receive, send):
                    await narrowed.app(scope, receive, send)
                return
        await self.router.app(scope, receive, send)

    async def _handled(self, leaves: _Leaves, scope: Scope, receive: Receive, send: Send) -> bool:
        """Handle the request by the first of `leaves` that matches it fully, as FastAPI's
        `_IncludedRouter._handle_selected` does; False if none does."""
        for included, context, app, path_format in leaves:
            match, child_scope = context.matches(scope)
            if match is not Match.FULL:
                continue
            route = context.original_route
            _apply_router_form_limits(scope, self.router.form_limits)
            _apply_router_form_limits(scope, included.include_context.form_limits)
            child_scope["route"] = route
            _update_scope(scope, child_scope)
            _route_selected(scope=scope, path=path_format)
            fastapi_scope = _get_fastapi_scope(scope)
            fastapi_scope[_FASTAPI_INCLUDED_ROUTER_KEY] = included
            fastapi_scope[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = context
            if app is not None:
                await app(scope, receive, send)  # what `route.handle` would call, matched
            else:
                await route.handle(scope, receive, send)
            return True
        return False

    def _set_aside(self) -> None:
        router = self.router
        reach = [(route, first_segments(route)) for route in router.routes]
        segments = set().union(*(found for _, found in reach if found is not None))
        by_segment = {}
        for segment in segments:
            narrowed = copy.copy(router)
            narrowed.routes = [r for r, found in reach if found is None or segment in found]
            by_segment[segment] = (narrowed, _leaves(narrowed.routes))
        # FastAPI's last resort (frontend routes) is tried after every route missed: only the
        # whole router knows them all.
        self._by_segment = {} if _has_low_priority_routes(router) else by_segment
        self._routes_seen = len(router.routes)


def _leaves(routes: list[BaseRoute]) -> _Leaves | None:
    """The FastAPI routes of `routes`, in the order FastAPI tries them, when every one of
    `routes` is a router included once whose routes are all FastAPI routes; else None (the
    segment goes FastAPI's way)."""
    leaves: _Leaves = []
    for route in routes:
        if not isinstance(route, _IncludedRouter):
            return None
        for candidate in route.effective_candidates():
            if not isinstance(candidate, _EffectiveRouteContext) or not isinstance(
                candidate.original_route, APIRoute
            ):
                return None
            # A route with a body limit is handled as FastAPI handles it (its limit's layer).
            app = None
            if candidate.max_body_size is None:
                app = getattr(candidate, "service_app", None)
            path_format = (
                getattr(candidate.starlette_route, "path_format", None) or candidate.path_format
            )
            leaves.append((route, candidate, app, path_format))
    return leaves


def first_segments(route: BaseRoute) -> frozenset[str] | None:
    """The literal first segments of the paths `route` can match; None: any path."""
    if isinstance(route, Host):
        return None
    found = set()
    for context in iter_route_contexts([route]):
        segment = _first_segment(context.path or "")
        if not segment or "{" in segment:
            return None
        found.add(segment)
    return frozenset(found)


def _first_segment(path: str) -> str:
    """`people` of `/people/123`; "" for `/` or a path that does not begin with `/`."""
    return path.split("/", 2)[1] if path.startswith("/") else ""


def _has_low_priority_routes(router: APIRouter) -> bool:
    return any(True for _ in router._iter_low_priority_routes())


def dispatch_by_first_segment(router: APIRouter) -> None:
    """Find `router`'s routes by the path's first segment (see the module's docstring)."""
    if router.middleware_stack != router.app:
        raise TypeError("the router's middleware_stack is not its own app: look at it first")
    router.middleware_stack = FirstSegmentDispatch(router)
