"""`python -m immunization_bridge.audit verify`: check the audit chain and its latest anchor."""

from immunization_bridge.config import Settings
from mch_common.audit_cli import main

if __name__ == "__main__":
    main(Settings())
