"""Every route of an app that `require_scope` guards, for tests that must cover them all (a
token of another tenant, a staff token without a terminal): a route added later is covered
without editing the test."""

import re
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

_PATH_PARAMETER = re.compile(r"\{[^}]+\}")
# A value that parses as an id, a person number or a date code: the refusal must come before
# the route looks at it, whatever it is.
PLACEHOLDER = "1000000009"
_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with every path parameter filled in

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def api_routes(app: FastAPI) -> list[Route]:
    """Every operation of the app's OpenAPI document."""
    return [
        Route(method.upper(), _PATH_PARAMETER.sub(PLACEHOLDER, path))
        for path, operations in app.openapi()["paths"].items()
        for method in _METHODS
        if method in operations
    ]


async def answers(
    client: httpx.AsyncClient, routes: list[Route], headers: dict[str, str]
) -> dict[str, tuple[int, object]]:
    """Each route's status and problem detail (None if not a problem) for a bodiless request."""
    found: dict[str, tuple[int, object]] = {}
    for route in routes:
        response = await client.request(route.method, route.path, headers=headers)
        problem = response.headers.get("content-type", "").startswith("application/problem")
        found[str(route)] = (
            response.status_code,
            response.json().get("detail") if problem else None,
        )
    return found


async def scoped_routes(
    app: FastAPI,
    client: httpx.AsyncClient,
    unscoped: dict[str, str],
    *,
    exclude: frozenset[str] = frozenset(),
) -> list[Route]:
    """The routes that `require_scope` guards: those refusing `unscoped` (the headers of a
    valid token of the service's tenant, with a terminal and no scope) for a missing scope.
    `exclude`: routes not to call with that token ("POST /oauth2/logout" ends its session)."""
    routes = [route for route in api_routes(app) if str(route) not in exclude]
    found = await answers(client, routes, unscoped)
    return [
        route
        for route in routes
        if found[str(route)][0] == 403 and str(found[str(route)][1]).startswith("missing scope")
    ]
