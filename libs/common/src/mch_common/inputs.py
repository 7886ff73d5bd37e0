"""Request bodies: the one strict base model and the one My Number input type.

`StrictModel` refuses unknown fields and refuses a My Number typed into any other string field
(a phone number, a building name, a note, also inside lists and dicts), where it would travel
on in events, exports and logs. The message names the field, never the value.

`MyNumber` is the only field type that may hold one. It accepts what is typed at a window
(full-width digits, spaces, hyphens), checks the check digit, and holds the 12 ASCII digits as
a `SecretStr`: a repr, a log line or `model_dump()` shows `**********`, and a service reads the
number with `.get_secret_value()`, nowhere else.
"""

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    WithJsonSchema,
    model_validator,
)

from mch_common.mynumber import contains_my_number, is_valid_my_number, normalize_my_number

__all__ = ["MyNumber", "PlainText", "StrictModel"]


def _parse_my_number(value: object) -> SecretStr:
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(raw, str):
        raise ValueError("a My Number is a string of 12 digits")
    number = normalize_my_number(raw)
    if not is_valid_my_number(number):
        # Say why, never what: the message reaches the client and may reach logs.
        raise ValueError("not a valid My Number: 12 digits with a matching check digit")
    return SecretStr(number)


MyNumber = Annotated[
    SecretStr,
    BeforeValidator(_parse_my_number),
    WithJsonSchema(
        {
            "type": "string",
            "writeOnly": True,
            "description": (
                "個人番号 (My Number): 12 digits, the last a check digit. Full-width digits, "
                "spaces and hyphens are accepted."
            ),
        }
    ),
]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("a NUL character is not accepted")
    return value


# A string parameter outside a StrictModel body (which checks its strings itself): a form
# field, a text body. No NUL, which PostgreSQL's text cannot hold (the statement would fail:
# a 500). `username: Annotated[PlainText, Form(max_length=50)]`
PlainText = Annotated[str, AfterValidator(_no_nul)]


_HOLDS_NO_TEXT = frozenset({int, bool, float, Decimal, date, datetime, UUID, type(None)})


def _texts(value: object) -> Iterator[str]:
    """Every string in a field's value (inside lists, dicts and plain models)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, StrictModel | SecretStr):
        return  # a nested strict model checked itself; a SecretStr is a MyNumber field
    elif isinstance(value, BaseModel):
        for _, v in value:
            yield from _texts(v)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _texts(k)
            yield from _texts(v)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from _texts(v)


class StrictModel(BaseModel):
    """The base of every request body: unknown fields refused, strings stripped, no My Number
    anywhere but in a `MyNumber` field, and no NUL character (PostgreSQL's text cannot hold
    one: it would fail the statement, a 500)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)

    @model_validator(mode="after")
    def _no_stray_my_number(self) -> Self:
        # The fields as the instance holds them (iterating the model walks a generator);
        # extras only where a subclass allows them.
        fields: Iterable[tuple[str, Any]] = self.__dict__.items()
        if self.__pydantic_extra__:
            fields = [*fields, *self.__pydantic_extra__.items()]
        texts: list[str] = []
        for _, value in fields:
            kind = type(value)
            if kind is str:
                texts.append(value)
            elif kind not in _HOLDS_NO_TEXT:  # most of a form's fields: skipped unwalked
                texts.extend(_texts(value))
        # All of them looked at as one text: a line break is neither a digit nor a separator,
        # so no candidate spans two. Only a find is looked for again, field by field, to name it.
        joined = "\n".join(texts)
        if "\x00" in joined or contains_my_number(joined):
            for name, value in fields:
                for text in (value,) if type(value) is str else _texts(value):
                    _check_text(name, text)
        return self


def _check_text(name: str, text: str) -> None:
    if "\x00" in text:
        raise ValueError(f"{name} holds a NUL character")
    if contains_my_number(text):
        raise ValueError(f"{name} holds what looks like a My Number")
