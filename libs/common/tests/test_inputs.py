"""The strict base model and the My Number input type: what they accept, what they refuse, and
that the number never shows in a repr, a dump, a validation error or the JSON schema."""

import json

import pytest
from pydantic import Field, ValidationError

from mch_common.inputs import MyNumber, StrictModel
from mch_common.mynumber import generate_my_number

NUMBER = "123456789018"  # check digit valid
FULL_WIDTH = "１２３４ ５６７８ ９０１８"


class Address(StrictModel):
    town: str
    building: str | None = None


class Registration(StrictModel):
    my_number: MyNumber
    name: str = Field(max_length=20)
    address: Address | None = None
    notes: list[str] = Field(default_factory=list)
    extra_fields: dict[str, str] = Field(default_factory=dict)


class Optional(StrictModel):
    my_number: MyNumber | None = None


def _refusal(**body: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Registration.model_validate(body)
    errors = " ".join(f"{e['type']} {e['msg']}" for e in caught.value.errors(include_input=False))
    assert NUMBER not in errors
    assert NUMBER not in str(caught.value)
    return errors


@pytest.mark.parametrize("typed", [NUMBER, FULL_WIDTH, "1234-5678-9018", " 1234 5678 9018 "])
def test_a_my_number_is_normalised_to_12_digits(typed: str) -> None:
    parsed = Registration.model_validate({"my_number": typed, "name": "x"})
    assert parsed.my_number.get_secret_value() == NUMBER


def test_a_my_number_never_shows() -> None:
    parsed = Registration.model_validate({"my_number": NUMBER, "name": "x"})
    for shown in (repr(parsed), str(parsed), parsed.model_dump_json(), str(parsed.model_dump())):
        assert NUMBER not in shown


@pytest.mark.parametrize(
    "bad", ["123456789017", "12345678901", "1234567890123", "abc", 123456789018]
)
def test_a_bad_my_number_is_refused_without_echo(bad: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Optional.model_validate({"my_number": bad})
    assert str(bad) not in str(caught.value)
    assert "My Number" in str(caught.value)


def test_the_json_schema_says_12_digits_and_shows_no_number() -> None:
    schema = Optional.model_json_schema()
    text = json.dumps(schema, ensure_ascii=False)
    assert "12 digits" in text
    assert "example" not in text
    assert not any(c.isdigit() for c in text.replace("12 digits", ""))


def test_unknown_fields_are_refused_and_strings_stripped() -> None:
    assert "extra_forbidden" in _refusal(my_number=NUMBER, name="x", unexpected=1)
    assert Registration.model_validate({"my_number": NUMBER, "name": "  x  "}).name == "x"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": NUMBER}, "name"),
        ({"address": {"town": "小倉北区", "building": f"tel {NUMBER}"}}, "building"),
        ({"notes": ["ok", f"{NUMBER}9"]}, "notes"),  # glued to another digit
        # As the card prints it, and as an IME types it (full width, ideographic spaces).
        ({"name": f"{NUMBER[:4]} {NUMBER[4:8]} {NUMBER[8:]}"}, "name"),
        ({"notes": ["番号" + FULL_WIDTH.replace(" ", "\u3000")]}, "notes"),
        ({"extra_fields": {"memo": NUMBER}}, "extra_fields"),
        ({"extra_fields": {NUMBER: "memo"}}, "extra_fields"),
    ],
)
def test_a_my_number_in_free_text_is_refused_naming_the_field(
    body: dict[str, object], field: str
) -> None:
    errors = _refusal(my_number=NUMBER, **({"name": "x"} | body))
    assert f"{field} holds what looks like a My Number" in errors


def test_ordinary_digits_and_uuids_are_not_my_numbers() -> None:
    Registration.model_validate(
        {
            "my_number": generate_my_number(),
            "name": "093-123-4567",
            "notes": [
                "1234567897",
                "01a21768-c494-7eba-8d63-123456789018",
                "123456789017",
                "1234 5678 9017",  # grouped, but fails the check digit
                "0120-1234-567",
            ],
        }
    )


def test_digits_in_two_fields_are_not_read_as_one_number() -> None:
    # The model's texts are looked at joined by a line break: nothing spans two of them.
    Registration.model_validate(
        {"my_number": NUMBER, "name": NUMBER[:6], "notes": [NUMBER[6:], NUMBER[:4]]}
    )
    Registration.model_validate(
        {"my_number": NUMBER, "name": f"{NUMBER[:4]} {NUMBER[4:8]}", "notes": [NUMBER[8:]]}
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"address": {"town": "小倉北区\x00"}}, "town"),
        ({"notes": ["ok", "\x00"]}, "notes"),
        ({"extra_fields": {"memo\x00": "x"}}, "extra_fields"),
    ],
)
def test_a_nul_character_is_refused_naming_the_field(body: dict[str, object], field: str) -> None:
    # PostgreSQL's text cannot hold it: the statement would fail, a 500 instead of a 422.
    errors = _refusal(my_number=NUMBER, **({"name": "x"} | body))
    assert f"{field} holds a NUL character" in errors
