"""`python -m intermediate_server.audit verify`: check the audit chain (which holds the
provision records) and its latest anchor."""

from intermediate_server.config import Settings
from mch_common.audit_cli import main

if __name__ == "__main__":
    main(Settings())
