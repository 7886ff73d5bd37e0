"""A service's code imports no other service's code except the producer's event catalogue
(`<service>.events`, docs/service-conventions.md): a shared mechanism lives in mch_common. Each
service deploys alone, so its pyproject names another service only for that catalogue."""

import ast
import re
from pathlib import Path

import pytest

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"
SERVICES = sorted(p.name for p in SERVICES_DIR.iterdir() if (p / "pyproject.toml").exists())


def imported_modules(tree: ast.AST) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from atena import events` names the catalogue module itself.
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def _is_catalogue(module: str) -> bool:
    rest = module.partition(".")[2]
    return rest == "events" or rest.startswith("events.")


def imports_of_others(service: str) -> set[str]:
    """Every module of another service that this service's runtime code imports."""
    others = set(SERVICES) - {service}
    found: set[str] = set()
    for path in (SERVICES_DIR / service / "src").rglob("*.py"):
        for module in imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            if module.partition(".")[0] in others:
                found.add(module)
    return found


def distribution(service: str) -> str:
    pyproject = (SERVICES_DIR / service / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^name = "([^"]+)"', pyproject, re.MULTILINE)
    assert match, f"{service}/pyproject.toml names no project"
    return match.group(1)


def dependencies(service: str) -> set[str]:
    pyproject = (SERVICES_DIR / service / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.MULTILINE | re.DOTALL)
    assert block, f"{service}/pyproject.toml has no dependencies"
    return set(re.findall(r'^\s*"([A-Za-z0-9_.-]+)', block.group(1), re.MULTILINE))


def test_the_scan_sees_a_foreign_import() -> None:
    tree = ast.parse(
        "from atena.normalize import search_key\nfrom atena import events, numbers\n"
        "import atena.bulk.parse as parse\n"
    )
    modules = imported_modules(tree)
    assert modules == {
        "atena.normalize.search_key",
        "atena.events",
        "atena.numbers",
        "atena.bulk.parse",
    }
    assert {m for m in modules if not _is_catalogue(m)} == {
        "atena.normalize.search_key",
        "atena.numbers",
        "atena.bulk.parse",
    }


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_only_the_event_catalogues_of_others(service: str) -> None:
    found = {m for m in imports_of_others(service) if not _is_catalogue(m)}
    assert found == set(), f"{service} imports another service's code: {sorted(found)}"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_depends_on_another_only_for_its_event_catalogue(service: str) -> None:
    catalogues = {m.partition(".")[0] for m in imports_of_others(service)}
    needed = {distribution(owner) for owner in catalogues}
    named = {distribution(s) for s in SERVICES if s != service} & dependencies(service)
    assert named <= needed, f"{service} depends on services it imports nothing of: {named - needed}"
