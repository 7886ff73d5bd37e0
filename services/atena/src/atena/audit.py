"""`python -m atena.audit verify`: check atena's audit chain and its latest anchor."""

from atena.config import Settings
from mch_common.audit_cli import main

if __name__ == "__main__":
    main(Settings())
