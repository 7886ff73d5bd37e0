"""Every service's command lines, run against a PostgreSQL that refuses their role: one line on
stderr naming the refusal and a non-zero exit, never a traceback (mch_common.cli)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from mch_common.db import with_database

# Each service's environment prefix, and the commands that reach its database: the audit
# verifier, its operators' commands, its seed or migration.
PREFIXES = {
    "identity": "IDENTITY_",
    "atena": "ATENA_",
    "boshi_core": "BOSHI_",
    "e_application": "EAPP_",
    "immunization_bridge": "IMMUNIZATION_",
    "intermediate_server": "IMS_",
}
COMMANDS = [
    *((service, [f"{service}.audit", "verify"], 3) for service in PREFIXES),
    ("identity", ["identity.seed"], 3),
    ("identity", ["identity.dev_token", "kosodate01"], 3),
    ("atena", ["atena.cli", "export", "--output", "-"], 3),
    ("atena", ["atena.seed"], 3),
    ("boshi_core", ["boshi_core.cli", "extract", "--all", "--month", "2031-01"], 3),
    ("boshi_core", ["boshi_core.migrate"], 3),
    ("e_application", ["e_application.cli", "import-portal", "{tmp}"], 3),
    ("immunization_bridge", ["immunization_bridge.cli", "register-file", "list"], 1),
    ("intermediate_server", ["intermediate_server.cli", "expire-held"], 1),
    ("intermediate_server", ["intermediate_server.seed"], 3),
]


def _signed_package(env: dict[str, str], demo: Path) -> str:
    """A demo applicant's signed pregnancy notification (e_application's seed and CLI)."""
    python = [sys.executable, "-m"]
    subprocess.run([*python, "e_application.seed"], env=env, check=True, capture_output=True)
    card = demo / "applicants" / "applicant01"
    signed = subprocess.run(
        [*python, "e_application.applicant_cli", "sign", "--card", str(card)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return signed.stdout


@pytest.mark.parametrize(
    ("service", "command", "code"), COMMANDS, ids=[" ".join(c[1][:2]) for c in COMMANDS]
)
def test_a_refused_command_says_so_in_one_line(
    postgres_server_url: str,
    nats_url: str,
    event_namespace: str,
    tmp_path: Path,
    service: str,
    command: list[str],
    code: int,
) -> None:
    refused = make_url(with_database(postgres_server_url, f"mch_{service}")).set(
        username="no_such_role", password=None
    )
    prefix = PREFIXES[service]
    env = os.environ | {
        f"{prefix}DATABASE_URL": refused.render_as_string(hide_password=False),
        f"{prefix}NATS_URL": nats_url,
        f"{prefix}EVENT_NAMESPACE": event_namespace,
        f"{prefix}ENVIRONMENT": "dev",
        "MCH_DEMO_DIR": str(tmp_path),
    }
    if service == "e_application":  # a package that passes every check but the database's
        env[f"{prefix}DEMO_DIR"] = str(tmp_path / "demo")
        drop = tmp_path / "drop"
        drop.mkdir()
        (drop / "package.json").write_text(_signed_package(env, tmp_path / "demo"))
    args = [a.format(tmp=tmp_path / "drop") for a in command]
    done = subprocess.run(
        [sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert 'role "no_such_role" does not exist' in lines[0]
