"""Checks of a service's OpenAPI document as a contract (see mch_common.openapi): every
operation is either secured or explicitly public, and declares its problem+json answers."""

__all__ = ["contract_gaps", "operations", "public_operations"]

from collections.abc import Iterator
from typing import Any

PROBLEM = "application/problem+json"
_METHODS = ("get", "post", "put", "patch", "delete")


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """("GET /persons/{person_no}", operation) for every operation of the document."""
    for path, items in document["paths"].items():
        for method in _METHODS:
            if method in items:
                yield f"{method.upper()} {path}", items[method]


def public_operations(document: dict[str, Any]) -> set[str]:
    """The operations that declare themselves public (`security: []`)."""
    return {name for name, operation in operations(document) if operation.get("security") == []}


def _expected_errors(name: str, operation: dict[str, Any]) -> set[str]:
    expected = set()
    security = operation.get("security", [])
    if security:
        expected.add("401")
    if any(scopes for requirement in security for scopes in requirement.values()):
        expected.add("403")
    parameters = operation.get("parameters", [])
    if any(p["in"] == "path" for p in parameters):
        expected.add("404")
    if parameters or "requestBody" in operation:
        expected.add("422")
    return expected


def contract_gaps(document: dict[str, Any]) -> list[str]:
    """What the document fails to say: an operation without a security requirement (neither
    scopes nor explicitly public), an error answer it must declare, an error answer that is not
    problem+json with the Problem schema."""
    gaps = []
    if "bearer" not in document.get("components", {}).get("securitySchemes", {}):
        gaps.append("no bearer security scheme")
    for name, operation in operations(document):
        if "security" not in operation:
            gaps.append(f"{name}: no security requirement")
        answers = operation.get("responses", {})
        for status in sorted(_expected_errors(name, operation) - set(answers)):
            gaps.append(f"{name}: does not declare {status}")
        for status, answer in answers.items():
            if status.isdigit() and int(status) >= 400:
                schema = answer.get("content", {}).get(PROBLEM, {}).get("schema", {})
                if schema.get("$ref") != "#/components/schemas/Problem":
                    gaps.append(f"{name}: {status} is not a Problem")
    return gaps
