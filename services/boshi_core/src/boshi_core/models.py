"""Every table, imported once so Alembic and the app see the whole metadata."""

from boshi_core.births.models import Child, LowBirthWeightNotification
from boshi_core.center.models import (
    CenterCase,
    CenterCaseMember,
    CenterConsultation,
    SupportPlan,
    SupportPlanReview,
)
from boshi_core.checkups.models import (
    CheckupNotice,
    CheckupProgramme,
    CheckupResult,
    DetailedExamVoucher,
)
from boshi_core.inquiries.models import Inquiry
from boshi_core.moving_in.models import PreviousCityRecord, PreviousCityRequest
from boshi_core.people.models import Person
from boshi_core.pregnancy.models import (
    ExpectedChildrenChange,
    Handbook,
    HandbookSerial,
    Pregnancy,
    PrenatalCheckup,
    PrenatalVoucher,
    RiskRuleSet,
    VoucherRule,
)
from boshi_core.reminders.models import ReminderRun
from boshi_core.requests.models import PersonalDataRequest, RecordCorrection
from boshi_core.retention.models import Disposal, RetentionRule
from boshi_core.rules.models import BirthRule
from boshi_core.suspensions.models import UseSuspension
from boshi_core.visits.models import HomeVisit
from mch_common.audit import AuditRecord
from mch_common.db import Base
from mch_common.events.tables import InboxEvent, OutboxEvent

__all__ = [
    "AuditRecord",
    "Base",
    "BirthRule",
    "CenterCase",
    "CenterCaseMember",
    "CenterConsultation",
    "CheckupNotice",
    "CheckupProgramme",
    "CheckupResult",
    "Child",
    "DetailedExamVoucher",
    "Disposal",
    "ExpectedChildrenChange",
    "Handbook",
    "HandbookSerial",
    "HomeVisit",
    "InboxEvent",
    "Inquiry",
    "LowBirthWeightNotification",
    "OutboxEvent",
    "Person",
    "PersonalDataRequest",
    "Pregnancy",
    "PrenatalCheckup",
    "PrenatalVoucher",
    "PreviousCityRecord",
    "PreviousCityRequest",
    "RecordCorrection",
    "ReminderRun",
    "RetentionRule",
    "RiskRuleSet",
    "SupportPlan",
    "SupportPlanReview",
    "UseSuspension",
    "VoucherRule",
]
