"""My Number (個人番号) helpers: check digit, encryption with key ids, blind index, masking.

The check digit rule (番号法施行令 art. 8): base digits P11..P1 counted from the right, weights
Qn = n+1 for n <= 6 and n-5 for n >= 7, r = sum(Pn*Qn) mod 11; the check digit is 0 when
r <= 1, else 11 - r. This is a different rule from the local government code's; see lgcode.py.
"""

import base64
import hashlib
import hmac
import os
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from operator import mul
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MY_NUMBER_LENGTH = 12

# Qn for P11..P1, i.e. for the base digits read left to right.
_WEIGHTS = tuple(n + 1 if n <= 6 else n - 5 for n in range(11, 0, -1))
# The same weights for the digits read right to left (P1..P11).
_WEIGHTS_FROM_RIGHT = _WEIGHTS[::-1]
# The weighted sum of the ASCII digits' codes exceeds that of their values by this much.
_ASCII_ZERO_SUM = ord("0") * sum(_WEIGHTS)


def _check_digit(total: int) -> int:
    r = total % 11
    return 0 if r <= 1 else 11 - r


def my_number_check_digit(base11: str) -> int:
    if len(base11) != 11 or not base11.isdigit():
        raise ValueError("a My Number base is 11 digits")
    if base11.isascii():
        # Hot path (bulk loads): the bytes are the digits' codes, summed in C.
        return _check_digit(sum(map(mul, _WEIGHTS, base11.encode())) - _ASCII_ZERO_SUM)
    # Other Unicode digits (e.g. full width): int() reads them, or raises for the rightmost one
    # it cannot read, as it always did.
    return _check_digit(sum(map(mul, _WEIGHTS_FROM_RIGHT, map(int, reversed(base11)))))


def is_valid_my_number(value: str) -> bool:
    if len(value) != MY_NUMBER_LENGTH or not value.isascii() or not value.isdigit():
        return False
    digits = value.encode()
    # map() stops after the 11 weights, so the check digit itself is not summed.
    total = sum(map(mul, _WEIGHTS, digits)) - _ASCII_ZERO_SUM
    return _check_digit(total) == digits[11] - 48  # 48: ord("0")


# What separates the groups of a My Number written as the card prints it, 4-4-4 ("1234 5678
# 9012"), or as typed at a window: a space or a hyphen, ASCII or full width (an IME's).
SEPARATORS = " -\u3000\uff0d"
_SEP = re.escape(SEPARATORS)
# Any script's decimal digits: a number typed in full width (an IME's default) counts too.
# A candidate is 12 digits in a row (a My Number glued to other digits, a phone number typed
# after it, a reference number around it, still counts: every 12-digit window of a run is
# checked) or three groups of four digits, one separator between each (judged by
# `_holds_my_number`: exactly three such groups, nothing more joined to them).
# (Four digits first: one look at a character that is not a digit, where an alternation of the
# two took twice as long over Japanese text.)
_CANDIDATE = re.compile(rf"\d{{4}}(?:\d{{8}}|[{_SEP}]\d{{4}}[{_SEP}]\d{{4}})")
# Digits with single separators between them: what a candidate is judged in, and replaced.
_DIGIT_TEXT = re.compile(rf"\d+(?:[{_SEP}]\d+)*")
_SEPARATOR = re.compile(rf"[{_SEP}]")
# A UUID's last group is 12 hex characters and is sometimes all digits: never a My Number.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# ASCII text with its digits as "1", a space or a hyphen as "2" and everything else as "0": 12
# digits in a row are twelve "1"s, a grouped number "11112111121111". An event's 500-byte
# envelope is looked at so in 0.8 µs, by a regular expression in 8 µs.
_DIGIT_MARKS = bytes(49 if 48 <= code <= 57 else 50 if code in b" -" else 48 for code in range(256))
_TWELVE_MARKS = b"1" * MY_NUMBER_LENGTH
_GROUPED_MARKS = b"11112111121111"


def _has_candidate(text: str) -> bool:
    """Whether `text` holds a candidate (12 digits in a row, or 4-4-4): the common answer,
    no, found fast."""
    if len(text) < MY_NUMBER_LENGTH:
        return False
    if text.isascii():
        return _marks_candidate(text.encode().translate(_DIGIT_MARKS))
    return _CANDIDATE.search(text) is not None


def _marks_candidate(marks: bytes) -> bool:
    # `find`, not `in`: bytes' `in` first tries its operand as an integer, raising and
    # formatting a TypeError it then drops (twice the time of the search itself).
    return marks.find(_TWELVE_MARKS) >= 0 or marks.find(_GROUPED_MARKS) >= 0


# Full-width digits (U+FF10-FF19, what an IME types) are EF BC 90-99 in UTF-8 and the full-width
# hyphen EF BC 8D: with the two lead bytes taken out, each is one byte, 0x90-0x99 marked as a
# digit, 0x8D as a separator. (Elsewhere those bytes continue other characters; a run of them
# is then only looked at more closely.) The ideographic space (E3 80 80) is made a space first.
_UTF8_DIGIT_MARKS = bytes(
    49 if 48 <= code <= 57 or 0x90 <= code <= 0x99 else 50 if code in b" -\x8d" else 48
    for code in range(256)
)
_FULL_WIDTH_LEAD = b"\xef\xbc"
_IDEOGRAPHIC_SPACE = "\u3000".encode()
# Looked for in Japanese text, where the bytes of these two recur in other characters: the
# regular expression finds the space in half the time of `in`, and the lead's first byte alone
# (memchr) rules out full width in 0.01 µs a kilobyte against 0.9 for the two bytes.
_find_ideographic_space = re.compile(re.escape(_IDEOGRAPHIC_SPACE)).search
_FULL_WIDTH_FIRST = _FULL_WIDTH_LEAD[:1]


def may_hold_my_number(data: bytes) -> bool:
    """Whether UTF-8 `data` holds a candidate (12 digits in a row, or three groups of four
    with a separator between each), ASCII, full width or both: False is certain for those
    (other scripts' digits are not looked for here), True is for contains_my_number to decide.
    A bulk load's events are looked at so: a few passes in C, where the regular expression
    took about a second per 25 MB."""
    if _find_ideographic_space(data):
        data = data.replace(_IDEOGRAPHIC_SPACE, b" ")
    if data.find(_FULL_WIDTH_FIRST) >= 0 and data.find(_FULL_WIDTH_LEAD) >= 0:  # not `in`: above
        marks = data.replace(_FULL_WIDTH_LEAD, b"").translate(_UTF8_DIGIT_MARKS)
    else:
        marks = data.translate(_DIGIT_MARKS)
    return _marks_candidate(marks)


def _ascii_digits(digits: str) -> str:
    if digits.isascii():
        return digits
    return "".join(str(unicodedata.decimal(digit)) for digit in digits)  # full width, any script


def _holds_my_number(digit_text: str) -> bool:
    """Whether digits with single separators hold a My Number: 12 digits in a row (any window
    of a longer run), or exactly three groups of four, as the card prints it. Four or more
    groups are a list of numbers (weights in grams, a font's widths), not the card's form."""
    if len(digit_text) < MY_NUMBER_LENGTH:
        return False  # a date, a time, a short number: most of what is looked at
    groups = [_ascii_digits(group) for group in _SEPARATOR.split(digit_text)]
    for run in groups:
        if any(is_valid_my_number(run[i : i + MY_NUMBER_LENGTH]) for i in range(len(run) - 11)):
            return True
    return (
        len(groups) == 3
        and all(len(group) == 4 for group in groups)
        and is_valid_my_number("".join(groups))
    )


def _scan(text: str, replace: bool) -> tuple[bool, str]:
    found = False
    out: list[str] = []
    pos = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal found
        if _holds_my_number(m.group(0)):
            found = True
            return "[REDACTED]"
        return m.group(0)

    for uuid_match in [*_UUID.finditer(text), None]:
        end = uuid_match.start() if uuid_match else len(text)
        segment = text[pos:end]
        if replace:
            out.append(_DIGIT_TEXT.sub(sub, segment) if _CANDIDATE.search(segment) else segment)
        elif _CANDIDATE.search(segment) and any(
            _holds_my_number(digits) for digits in _DIGIT_TEXT.findall(segment)
        ):
            return True, text
        if uuid_match:
            out.append(uuid_match.group(0))
            pos = uuid_match.end()
    return found, "".join(out)


def contains_my_number(text: str) -> bool:
    """True if any 12 consecutive digits in `text`, or any three groups of four digits with a
    space or hyphen between each (outside UUIDs), pass the My Number check digit. The one rule
    for events, log lines, free-text input, URLs and bulk files."""
    if not _has_candidate(text):  # the common case, on every event written
        return False
    return _scan(text, replace=False)[0]


def redact_my_numbers(text: str) -> str:
    """Replaces all the digits (with their separators) around every My Number that
    contains_my_number finds."""
    if not _has_candidate(text):
        return text
    return _scan(text, replace=True)[1]


_NORMALIZE = str.maketrans("０１２３４５６７８９", "0123456789", SEPARATORS)


def normalize_my_number(value: str) -> str:
    """Accepts full-width digits, spaces and hyphens as typed at a window; returns 12 digits."""
    if value.isascii() and value.isdigit():
        return value  # the common case, which the table leaves as it is
    return value.translate(_NORMALIZE)


def generate_my_number(rng: random.Random | None = None) -> str:
    """A synthetic, check-digit-valid number for tests, seeds and benchmarks."""
    r = rng or random.Random()  # noqa: S311 - synthetic demo and test data, not security
    base = "".join(str(r.randrange(10)) for _ in range(11))
    if base[0] == "0":
        base = "1" + base[1:]
    return base + str(my_number_check_digit(base))


def mask_my_number(value: str) -> str:
    """What every output shows unless the caller holds the scope to see the number."""
    return "*" * 8 + value[-4:] if len(value) == MY_NUMBER_LENGTH else "*" * MY_NUMBER_LENGTH


@dataclass(frozen=True)
class EncryptedMyNumber:
    key_id: str
    ciphertext: bytes  # 12-byte nonce followed by AES-GCM ciphertext and tag


class MyNumberVault:
    """AES-256-GCM encryption with key ids (for rotation) and a keyed HMAC blind index.

    `aad` binds a ciphertext to its owner (e.g. the person number) so a ciphertext copied onto
    another row does not decrypt.

    The blind index key has an id too (`index_key_id`, stored beside each index). While stored
    indexes are being re-keyed, `previous_index_key` is the key being replaced: a lookup then
    matches the index under either key (`lookup_indexes`), so no lookup misses during the run.
    """

    def __init__(
        self,
        *,
        keys: dict[str, bytes],
        current_key_id: str,
        index_key: bytes,
        index_key_id: str = "",
        previous_index_key: bytes | None = None,
    ) -> None:
        if current_key_id not in keys:
            raise ValueError("current key id has no key")
        for kid, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"key {kid} must be 32 bytes for AES-256")
        for key in (index_key, previous_index_key or index_key):
            if len(key) < 32:
                raise ValueError("blind index key must be at least 32 bytes")
        if previous_index_key == index_key:
            raise ValueError("the previous blind index key is the current one")
        self._keys = dict(keys)
        self.current_key_id = current_key_id
        self.index_key_id = index_key_id
        # Keyed once: blind_index() copies it rather than re-keying an HMAC per number.
        self._index_mac = hmac.new(index_key, digestmod=hashlib.sha256)
        self._previous_index_mac = (
            hmac.new(previous_index_key, digestmod=hashlib.sha256) if previous_index_key else None
        )
        self._aeads: dict[str, AESGCM] = {}  # one AESGCM per key id, built on first use

    @classmethod
    def from_config(
        cls,
        *,
        keys: str,
        current_key_id: str,
        index_key: str,
        index_key_id: str = "",
        previous_index_key: str | None = None,
    ) -> "MyNumberVault":
        """keys: `kid:base64key,kid2:base64key`; index_key, previous_index_key: base64."""
        parsed = {}
        for part in keys.split(","):
            kid, _, b64 = part.strip().partition(":")
            parsed[kid] = base64.b64decode(b64)
        return cls(
            keys=parsed,
            current_key_id=current_key_id,
            index_key=base64.b64decode(index_key),
            index_key_id=index_key_id,
            previous_index_key=base64.b64decode(previous_index_key) if previous_index_key else None,
        )

    def _aead(self, key_id: str) -> "AESGCM":
        aead = self._aeads.get(key_id)
        if aead is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            aead = self._aeads[key_id] = AESGCM(self._keys[key_id])
        return aead

    def encrypt(self, number: str, *, aad: bytes = b"") -> EncryptedMyNumber:
        if not is_valid_my_number(number):
            raise ValueError("not a valid My Number")
        key_id = self.current_key_id
        nonce = os.urandom(12)
        sealed = self._aead(key_id).encrypt(nonce, number.encode(), aad)
        return EncryptedMyNumber(key_id, nonce + sealed)

    def encrypt_many(self, numbers: Sequence[tuple[str, bytes]]) -> tuple[str, list[bytes]]:
        """`(number, aad)` pairs sealed as `encrypt` seals each: the current key id and the
        ciphertexts in order. For bulk loads: one read of the random source for every nonce
        and no object per number (a third of encrypting a million numbers one by one)."""
        key_id = self.current_key_id
        seal = self._aead(key_id).encrypt
        nonces = os.urandom(12 * len(numbers))
        sealed: list[bytes] = []
        for at, (number, aad) in enumerate(numbers):
            if not is_valid_my_number(number):
                raise ValueError("not a valid My Number")
            nonce = nonces[12 * at : 12 * at + 12]
            sealed.append(nonce + seal(nonce, number.encode(), aad))
        return key_id, sealed

    def decrypt(self, encrypted: EncryptedMyNumber, *, aad: bytes = b"") -> str:
        if encrypted.key_id not in self._keys:
            raise KeyError(f"no key for key id {encrypted.key_id}")
        nonce, sealed = encrypted.ciphertext[:12], encrypted.ciphertext[12:]
        return self._aead(encrypted.key_id).decrypt(nonce, sealed, aad).decode()

    def needs_rotation(self, encrypted: EncryptedMyNumber) -> bool:
        return encrypted.key_id != self.current_key_id

    def blind_index(self, number: str) -> bytes:
        """The index under the current key: what a stored number gets."""
        mac = self._index_mac.copy()
        mac.update(number.encode())
        return mac.digest()

    def lookup_indexes(self, number: str) -> tuple[bytes, ...]:
        """What a lookup matches: the current index, and during a re-keying also the index
        under the previous key (rows the run has not reached yet)."""
        if self._previous_index_mac is None:
            return (self.blind_index(number),)
        previous = self._previous_index_mac.copy()
        previous.update(number.encode())
        return self.blind_index(number), previous.digest()


def new_dev_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()
