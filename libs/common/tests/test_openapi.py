"""The OpenAPI contract mch_common writes for every service: the bearer scheme, each
operation's scopes read from its scope check, its problem+json error answers."""

from typing import Annotated, Any

from fastapi import FastAPI
from pydantic import BaseModel

from mch_common.auth.deps import CurrentPrincipal, require_any_scope, require_scope
from mch_common.auth.principal import Principal
from mch_common.openapi import problem_responses
from mch_common.routes import ServiceRouter
from mch_common.runtime import service_lifespan
from mch_common.settings import ServiceSettings
from mch_common.web import create_service_app
from mch_testing.contract import contract_gaps, public_operations

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


class Thing(BaseModel):
    name: str


def build_app() -> FastAPI:
    router = ServiceRouter()
    Reader = Annotated[Principal, require_scope("demo:thing:read")]
    Writer = Annotated[Principal, require_scope("demo:thing:write", "demo:thing:read")]
    Either = Annotated[Principal, require_any_scope("demo:audit:read", "demo:thing:admin")]

    @router.get("/things/{thing_id}")
    async def read(thing_id: int, principal: Reader) -> Thing:
        return Thing(name="x")

    @router.post("/things", status_code=201, responses=problem_responses(503))
    async def create(body: Thing, principal: Writer) -> Thing:
        return body

    @router.get("/audit")
    async def audit(principal: Either) -> list[str]:
        return []

    @router.get("/me")
    async def me(principal: CurrentPrincipal) -> str:
        return principal.sub

    settings = ServiceSettings(service_name="demo", database_url="postgresql+asyncpg://x@h/x")
    return create_service_app(
        service="demo",
        title="demo",
        description="demo",
        lifespan=service_lifespan(settings, stream_service="demo"),
        routers=[router],
    )


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]
    return found


def test_security_requirements_name_the_scopes_of_the_scope_check() -> None:
    document = build_app().openapi()

    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert operation(document, "get", "/things/{thing_id}")["security"] == [
        {"bearer": ["demo:thing:read"]}
    ]
    assert operation(document, "post", "/things")["security"] == [
        {"bearer": ["demo:thing:read", "demo:thing:write"]}
    ]
    # One of the scopes is enough: alternatives.
    assert operation(document, "get", "/audit")["security"] == [
        {"bearer": ["demo:audit:read"]},
        {"bearer": ["demo:thing:admin"]},
    ]
    assert operation(document, "get", "/me")["security"] == [{"bearer": []}]
    assert public_operations(document) == {"GET /healthz", "GET /readyz", "GET /metrics"}


def test_error_answers_are_problems_as_they_apply() -> None:
    document = build_app().openapi()

    def errors(method: str, path: str) -> set[str]:
        answers = operation(document, method, path)["responses"]
        assert all(answers[s]["content"] == PROBLEM for s in answers if int(s) >= 400)
        return {s for s in answers if int(s) >= 400}

    assert errors("get", "/things/{thing_id}") == {"401", "403", "404", "422"}
    assert errors("post", "/things") == {"400", "401", "403", "409", "422", "503"}
    assert errors("get", "/audit") == {"401", "403"}
    assert errors("get", "/me") == {"401"}
    assert errors("get", "/healthz") == set()
    assert document["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
        "instance",
    ]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert contract_gaps(document) == []
