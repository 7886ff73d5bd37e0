"""`python -m e_application.audit verify`: check the audit chain and its latest anchor."""

from e_application.config import Settings
from mch_common.audit_cli import main

if __name__ == "__main__":
    main(Settings())
