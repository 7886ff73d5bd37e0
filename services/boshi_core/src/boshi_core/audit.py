"""`python -m boshi_core.audit verify`: check boshi_core's audit chain and its latest anchor."""

from boshi_core.config import Settings
from mch_common.audit_cli import main

if __name__ == "__main__":
    main(Settings())
