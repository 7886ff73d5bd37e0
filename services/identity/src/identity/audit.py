"""`python -m identity.audit verify`: check identity's audit chain and its latest anchor."""

from identity.config import Settings
from mch_common.audit_cli import main

if __name__ == "__main__":
    main(Settings())
