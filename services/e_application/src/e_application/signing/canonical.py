"""RFC 8785 (JSON Canonicalization Scheme) for the documents applicants sign.

The signed form holds strings, integers, booleans, null, lists and objects; a float is refused
(JCS's number form is ECMAScript's, which no form field here needs)."""

import json
from typing import Any


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be")  # RFC 8785 3.2.3: members sorted by UTF-16 code units


def _write(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, bool):
        out.append(json.dumps(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if not isinstance(key, str):
                raise TypeError("object keys must be strings")
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    else:
        raise TypeError(f"{type(value).__name__} has no canonical JSON form here")


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 bytes of `value` (UTF-8)."""
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode()
