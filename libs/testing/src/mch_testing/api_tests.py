"""Property-based API tests of a service app against its own OpenAPI document (schemathesis).

Every operation gets a few generated requests that fit the document and a few that do not,
sent with a real token through ASGI to the running app (its lifespan, its database); each
answer must be no 5xx, a documented status, a documented content type and, where the document
has one, match its schema. The budget is fixed and the generation derandomized, so a run is
bounded and repeatable.
"""

__all__ = ["ApiTestReport", "run_api_tests", "scopes_of"]

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class ApiTestReport:
    operations: int = 0
    cases: int = 0
    failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.operations} operations, {self.cases} generated cases"


def scopes_of(document: dict[str, Any]) -> set[str]:
    """Every scope some operation of the OpenAPI document asks for."""
    return {
        scope
        for operations in document["paths"].values()
        for operation in operations.values()
        for requirement in operation.get("security", ())
        for scopes in requirement.values()
        for scope in scopes
    }


def run_api_tests(
    app: FastAPI,
    *,
    headers: dict[str, str],
    examples: int = 10,
    run_last: Collection[str] = (),
) -> ApiTestReport:
    """Test every operation of `app` with `examples` positive and `examples` negative cases.

    Blocking (schemathesis runs the app's lifespan and requests on its own event loop thread):
    call it from an async test with `asyncio.to_thread`. `run_last`: operations ("POST
    /oauth2/logout") that end the token's session, tested after all others."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the document itself is broken
            raise result.err()
        operations.append(result.ok())
    # Stable: the others keep the document's order.
    operations.sort(key=lambda op: f"{op.method.upper()} {op.path}" in run_last)
    report = ApiTestReport(operations=len(operations))
    budget = settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    try:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @budget
                @given(case=operation.as_strategy(generation_mode=mode))
                def call(case: schemathesis.Case[Any]) -> None:
                    report.cases += 1
                    case.call_and_validate(headers=headers, checks=CHECKS)

                try:
                    call()
                except Unsatisfiable:
                    pass  # an operation without inputs has no negative cases
                except (Exception, FailureGroup) as failure:  # noqa: BLE001 - all are reported
                    label = f"{operation.method.upper()} {operation.path} ({mode})"
                    report.failures.append(f"{label}: {str(failure)[:1500]}")
    finally:
        asgi.shutdown_lifespans()
    return report


async def check_documented_answers(
    app: FastAPI,
    *,
    headers: dict[str, str],
    record_testsuite_property: Callable[[str, object], None],
    run_last: Collection[str] = (),
) -> None:
    """A service's API test: the generated requests (in schemathesis' own thread) get only
    documented answers; the counts of operations and cases go into the junit report."""
    report = await asyncio.to_thread(run_api_tests, app, headers=headers, run_last=run_last)
    record_testsuite_property("api_operations", report.operations)
    record_testsuite_property("api_generated_cases", report.cases)
    assert report.failures == [], "\n\n".join(report.failures)
