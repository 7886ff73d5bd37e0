"""identity's audit chain: tampering detected against the anchor by the operators' verifier
(the endpoints are exercised in test_admin.py)."""

from pathlib import Path
from typing import Any

from identity.config import Settings
from identity.main import create_app
from mch_testing.audit import check_audit_tampering_is_detected, tampering_settings
from mch_testing.plugin import DatabaseFactory


async def test_truncation_and_rewrites_are_detected(
    database_factory: DatabaseFactory,
    migrations_path: Path,
    test_database_name: str,
    service_settings: dict[str, Any],
) -> None:
    url = await database_factory.create(f"{test_database_name}_tamper", migrations_path)
    await check_audit_tampering_is_detected(
        create_app=create_app,
        settings=Settings(**tampering_settings(service_settings, url), log_level="WARNING"),
        owner_url=database_factory.owner_url(url),
    )
