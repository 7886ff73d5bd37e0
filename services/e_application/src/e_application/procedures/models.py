from datetime import date
from typing import Any

from sqlalchemy import Date, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class Procedure(Base):
    """One version of a procedure (手続), in force from `effective_from` to the day before
    `effective_to` (null: still in force). Rows are data: a change is a migration adding the
    next version, never an edit of a version applicants may have signed."""

    __tablename__ = "procedures"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    # The department that handles it (the token's `dept` claim), and the ward offices' section
    # whose staff see the applications of their own ward.
    department: Mapped[str] = mapped_column(String(100))
    ward_department: Mapped[str | None] = mapped_column(String(100))
    # What the applicant is shown (利用目的), stored with every application.
    purpose: Mapped[str] = mapped_column(Text)
    retention_years: Mapped[int] = mapped_column(Integer)
    # [{"name", "label", "type", "required", ...rule}]: see procedures.validation.
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # Cross-field rules: [{"rule": "before", "field": a, "other": b, "message": ...}].
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # Which form fields state the signer's four facts ({"name": "name", ...}); a fact the form
    # does not ask is implied (`implied_facts`, e.g. the pregnant woman's sex).
    identity_fields: Mapped[dict[str, str]] = mapped_column(JSONB)
    implied_facts: Mapped[dict[str, str]] = mapped_column(JSONB)
    my_number_required: Mapped[bool] = mapped_column()
    ward_field: Mapped[str] = mapped_column(String(40))  # the ward office the applicant chose
    email_field: Mapped[str | None] = mapped_column(String(40))  # where the result notice goes
    handover: Mapped[str | None] = mapped_column(String(40))  # boshi_pregnancy: exported
