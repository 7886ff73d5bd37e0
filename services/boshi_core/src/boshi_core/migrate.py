"""`boshi-core-migrate`: bring the database to the latest schema."""

from pathlib import Path

from boshi_core.config import Settings
from mch_common.migrations import upgrade

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def main() -> None:
    upgrade(MIGRATIONS, Settings().database_url)


if __name__ == "__main__":
    main()
