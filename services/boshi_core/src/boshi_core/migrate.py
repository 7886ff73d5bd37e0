"""`boshi-core-migrate`: bring the database to the latest schema."""

from pathlib import Path

from boshi_core.config import Settings
from mch_common.cli import exit_on_refusal
from mch_common.migrations import upgrade

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def main() -> None:
    with exit_on_refusal("boshi-core-migrate"):
        upgrade(MIGRATIONS, Settings().database_url)


if __name__ == "__main__":
    main()
