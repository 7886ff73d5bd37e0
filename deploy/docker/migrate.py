"""`mch-entrypoint migrate`: bring one service's database to the latest Alembic revision, as
its owner, then create or update the service's runtime role `<database>_app`
(mch_common.db_roles: it cannot alter the audit log nor disable its trigger).

The owner's URL is `<PREFIX>_MIGRATION_DATABASE_URL` (the service's env prefix: IDENTITY_,
ATENA_, BOSHI_, ...; given to this job only, never to the service), else the service's own
database URL (`<svc>.config.Settings().database_url`), else `<SVC>_DATABASE_URL`, else
`DATABASE_URL`. The runtime role's password is `<PREFIX>_RUNTIME_DB_PASSWORD` (the service's
`DATABASE_URL` carries the same). Creating the role needs CREATEROLE. With
MCH_CREATE_DATABASE=1 the database is created first if missing (the owner then needs CREATEDB;
docker-compose uses this, managed databases are created by the DBA).
"""

import asyncio
import importlib
import os
import sys
from pathlib import Path


def say(message: str) -> None:
    sys.stderr.write(f"mch-migrate: {message}\n")
    sys.stderr.flush()


def env_prefix(service: str) -> str:
    try:
        settings = importlib.import_module(f"{service}.config").Settings
        return str(settings.model_config.get("env_prefix") or f"{service.upper()}_")
    except (ImportError, AttributeError):
        return f"{service.upper()}_"


def database_url(service: str) -> str:
    owner = os.environ.get(f"{env_prefix(service)}MIGRATION_DATABASE_URL")
    if owner:
        return owner
    try:
        settings = importlib.import_module(f"{service}.config").Settings()
        return str(settings.database_url)
    except (ImportError, AttributeError):
        pass
    for key in (f"{service.upper()}_DATABASE_URL", "DATABASE_URL"):
        if os.environ.get(key):
            return os.environ[key]
    raise SystemExit(
        f"mch-migrate: no database URL for {service}: set {service.upper()}_DATABASE_URL"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        say("usage: mch-migrate.py <service>")
        return 64
    service = argv[0]
    from mch_common.db import asyncpg_url, create_database, database_name
    from mch_common.db_roles import ensure_runtime_role_sync, runtime_role
    from mch_common.migrations import upgrade

    package = importlib.import_module(service)
    migrations = Path(package.__file__ or "").resolve().parent / "migrations"
    if not (migrations / "env.py").is_file():
        say(f"{service} has no migrations ({migrations})")
        return 1
    url = asyncpg_url(database_url(service))
    name = database_name(url)
    if os.environ.get("MCH_CREATE_DATABASE") == "1" and asyncio.run(
        create_database(url, name, exist_ok=True)
    ):
        say(f"created database {name}")
    upgrade(migrations, url)
    say(f"{service}: database {name} is at head")
    password = os.environ.get(f"{env_prefix(service)}RUNTIME_DB_PASSWORD")
    ensure_runtime_role_sync(url, password=password)
    say(f"{service}: runtime role {runtime_role(name)} granted its rights")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
