"""Every table of identity, imported so Alembic and the tests see one metadata."""

from identity.keys.models import SigningKey
from identity.reviews.models import UserReview
from identity.terminals.models import Terminal
from identity.tokens.models import RefreshToken, RevokedToken, ServiceClient
from identity.users.models import Role, RoleScope, User, UserRole, UserTransfer
from mch_common.audit import AuditRecord
from mch_common.db import Base
from mch_common.events.tables import InboxEvent, OutboxEvent

__all__ = [
    "AuditRecord",
    "Base",
    "InboxEvent",
    "OutboxEvent",
    "RefreshToken",
    "RevokedToken",
    "Role",
    "RoleScope",
    "ServiceClient",
    "SigningKey",
    "Terminal",
    "User",
    "UserReview",
    "UserRole",
    "UserTransfer",
]
