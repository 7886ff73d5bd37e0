"""The procedure engine: a form checked against its procedure's field list and rules (data).

Unknown fields, a missing required field, a wrong type or a broken rule each give one error
`{"loc": ["form", field], "msg", "type"}` that names the field and says why, never the value;
a My Number typed into a text field is refused like everywhere on the platform."""

import re
from datetime import date
from typing import Any

from mch_common.lgcode import KITAKYUSHU_WARDS
from mch_common.mynumber import contains_my_number

_KANA = re.compile(r"^[\u30a0-\u30ff\u3040-\u309f\uff66-\uff9f 　ー・]+$")
_PHONE = re.compile(r"^[0-9+\-() ]{6,20}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
FieldErrors = list[dict[str, Any]]


def _error(field: str, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["form", field], "msg": msg, "type": kind}


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _check_field(spec: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    """The normalised value, or the reason it is refused."""
    kind = spec.get("type", "text")
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return None, "must be an integer"
        if "min" in spec and value < spec["min"]:
            return None, f"must be at least {spec['min']}"
        if "max" in spec and value > spec["max"]:
            return None, f"must be at most {spec['max']}"
        return value, None
    if kind == "boolean":
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if not isinstance(value, str):
        return None, "must be a string"
    text = value.strip()
    if "\x00" in text:
        return None, "must not contain a NUL character"
    if not text:
        return None, "must not be empty"
    if kind == "date":
        return (text, None) if _date(text) else (None, "must be a date (YYYY-MM-DD)")
    if kind == "time":
        return (text, None) if _TIME.match(text) else (None, "must be a time (HH:MM)")
    if kind == "ward":
        if text not in KITAKYUSHU_WARDS:
            return None, "must be the code of one of Kitakyushu's seven ward offices"
        return text, None
    if kind == "choice":
        choices = spec.get("choices", [])
        return (text, None) if text in choices else (None, f"must be one of {', '.join(choices)}")
    if contains_my_number(text):
        return None, "must not contain a My Number (give it only in the My Number field)"
    if len(text) > spec.get("max_length", 200):
        return None, f"must be at most {spec.get('max_length', 200)} characters"
    if kind == "kana" and not _KANA.match(text):
        return None, "must be written in kana"
    if kind == "phone" and not _PHONE.match(text):
        return None, "must be a telephone number (digits, +, -, parentheses)"
    if kind == "email" and not _EMAIL.match(text):
        return None, "must be an e-mail address"
    return text, None


def validate_form(
    *, fields: list[dict[str, Any]], rules: list[dict[str, Any]], form: Any
) -> tuple[dict[str, Any], FieldErrors]:
    """The form as stored (strings stripped, absent optional fields left out) and the errors."""
    if not isinstance(form, dict):
        return {}, [{"loc": ["form"], "msg": "the form must be a JSON object", "type": "type"}]
    known = {spec["name"]: spec for spec in fields}
    errors = [
        _error(name, "is not a field of this procedure", "unknown_field")
        for name in sorted(set(form) - set(known))
    ]
    clean: dict[str, Any] = {}
    for name, spec in known.items():
        value = form.get(name)
        if value is None or value == "":
            if spec.get("required", False):
                errors.append(_error(name, f"is required ({spec['label']})", "missing"))
            continue
        normalised, problem = _check_field(spec, value)
        if problem is not None:
            errors.append(_error(name, problem, "invalid"))
        else:
            clean[name] = normalised
    if not errors:
        errors.extend(_check_rules(rules, clean))
    return clean, errors


def _check_rules(rules: list[dict[str, Any]], form: dict[str, Any]) -> FieldErrors:
    errors = []
    for rule in rules:
        first, second = _date(form.get(rule["field"])), _date(form.get(rule["other"]))
        if first is None or second is None:
            continue
        if rule["rule"] == "before":
            broken = not first < second
        elif rule["rule"] == "within_days":
            broken = not rule["min"] <= (first - second).days <= rule["max"]
        else:
            raise ValueError(f"unknown rule {rule['rule']}")
        if broken:
            errors.append(_error(rule["field"], rule["message"], "rule"))
    return errors
