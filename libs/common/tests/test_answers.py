"""`answer_from` gives what `model_validate(obj, from_attributes=True)` gives."""

from datetime import date
from uuid import UUID

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from mch_common.answers import answer_from
from mch_common.db import new_row
from mch_common.ids import uuid7


class _Base(DeclarativeBase):
    pass


class Ward(_Base):
    __tablename__ = "answers_ward"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


class Case(_Base):
    __tablename__ = "answers_case"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    family_name: Mapped[str] = mapped_column(String(20))
    given_name: Mapped[str] = mapped_column(String(20))
    closed_on: Mapped[date | None] = mapped_column(Date)
    # An attribute named apart from its column.
    note: Mapped[str | None] = mapped_column("note_text", String(50))
    ward_code: Mapped[str] = mapped_column(ForeignKey("answers_ward.code"))
    ward: Mapped[Ward] = relationship()

    @property
    def full_name(self) -> str:
        return f"{self.family_name} {self.given_name}"


class WardOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str


class CaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    full_name: str  # a property
    closed_on: date | None  # never set: None, as the attribute reads
    note: str | None
    ward: WardOut | None  # a nested model, from its object's attributes


class AliasedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str = Field(validation_alias="family_name")


def _case(**values: object) -> Case:
    return new_row(
        Case, id=uuid7(), family_name="北九", given_name="花子", ward_code="401005", **values
    )


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(lambda: _case(), id="columns never set"),
        pytest.param(lambda: _case(note="二人目", closed_on=date(2026, 12, 1)), id="all set"),
        pytest.param(
            lambda: Case(
                id=uuid7(),
                family_name="若松",
                given_name="桜",
                ward=Ward(code="401099", name="若松区"),
            ),
            id="a relationship",
        ),
    ],
)
def test_the_answer_is_the_one_read_through_the_attributes(case: object) -> None:
    made = case()  # type: ignore[operator]
    assert answer_from(CaseOut, made) == CaseOut.model_validate(made)
    assert answer_from(AliasedOut, made) == AliasedOut.model_validate(made)


def test_a_value_the_model_refuses_is_refused_as_before() -> None:
    made = _case()
    made.__dict__["closed_on"] = "not a date"
    with pytest.raises(ValidationError):
        answer_from(CaseOut, made)
