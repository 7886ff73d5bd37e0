import random
import uuid

import pytest

from mch_common.lgcode import KITAKYUSHU_WARDS, is_valid_lg_code, lg_check_digit, with_check_digit
from mch_common.logs import redact_my_numbers
from mch_common.mynumber import (
    EncryptedMyNumber,
    MyNumberVault,
    generate_my_number,
    is_valid_my_number,
    mask_my_number,
    my_number_check_digit,
    new_dev_key,
    normalize_my_number,
)


def test_documented_example_is_valid() -> None:
    assert is_valid_my_number("123456789018")
    assert not is_valid_my_number("123456789017")


@pytest.mark.parametrize(
    "value", ["", "12345678901", "1234567890123", "12345678901a", "１２３４５６７８９０１８"]
)
def test_malformed_numbers_are_invalid(value: str) -> None:
    assert not is_valid_my_number(value)


def test_generated_numbers_pass_and_one_digit_changes_fail() -> None:
    rng = random.Random(7)
    for _ in range(200):
        number = generate_my_number(rng)
        assert is_valid_my_number(number)
        wrong = number[:11] + str((int(number[11]) + 1) % 10)
        assert not is_valid_my_number(wrong)


def test_check_digit_is_zero_when_remainder_is_at_most_one() -> None:
    # Find bases with remainder 0 and 1 and check the rule's edge, which lgcode does differently.
    rng = random.Random(1)
    seen: set[int] = set()
    while len(seen) < 2:
        base = "".join(str(rng.randrange(10)) for _ in range(11))
        total = sum(int(base[11 - n]) * (n + 1 if n <= 6 else n - 5) for n in range(1, 12))
        if total % 11 in (0, 1):
            assert my_number_check_digit(base) == 0
            seen.add(total % 11)


def test_check_digit_reads_any_unicode_digits_as_int_does() -> None:
    # The ASCII fast path and the general path agree; a digit int() cannot read still raises.
    assert my_number_check_digit("１２３４５６７８９０１") == 8
    assert my_number_check_digit("12345678901") == 8
    with pytest.raises(ValueError, match="invalid literal"):
        my_number_check_digit("1234567890²")
    with pytest.raises(ValueError, match="11 digits"):
        my_number_check_digit("1234567890a")


def test_normalize_accepts_full_width_and_separators() -> None:
    assert normalize_my_number("１２３４ ５６７８-９０１８") == "123456789018"


def test_mask_keeps_only_last_four() -> None:
    assert mask_my_number("123456789018") == "********9018"


def test_vault_round_trip_with_aad_and_rotation() -> None:
    old = MyNumberVault.from_config(
        keys=f"k1:{new_dev_key()}", current_key_id="k1", index_key=new_dev_key()
    )
    sealed = old.encrypt("123456789018", aad=b"1000000017")
    assert b"123456789018" not in sealed.ciphertext
    assert old.decrypt(sealed, aad=b"1000000017") == "123456789018"
    with pytest.raises(Exception):  # noqa: B017, PT011 - cryptography raises InvalidTag
        old.decrypt(sealed, aad=b"another-person")
    k1 = old._keys["k1"]
    rotated = MyNumberVault(
        keys={"k1": k1, "k2": b"\x02" * 32}, current_key_id="k2", index_key=b"i" * 32
    )
    assert rotated.needs_rotation(sealed)
    assert rotated.decrypt(sealed, aad=b"1000000017") == "123456789018"
    assert rotated.encrypt("123456789018").key_id == "k2"


def test_numbers_sealed_together_open_one_by_one_with_their_own_aad() -> None:
    vault = MyNumberVault(keys={"k": b"k" * 32}, current_key_id="k", index_key=b"a" * 32)
    numbers = [generate_my_number(random.Random(seed)) for seed in range(50)]
    key_id, sealed = vault.encrypt_many(
        [(n, f"{at:010d}".encode()) for at, n in enumerate(numbers)]
    )
    assert key_id == "k"
    assert len({s[:12] for s in sealed}) == len(numbers)  # a nonce of its own each
    for at, (number, ciphertext) in enumerate(zip(numbers, sealed, strict=True)):
        assert number.encode() not in ciphertext
        opened = vault.decrypt(EncryptedMyNumber(key_id, ciphertext), aad=f"{at:010d}".encode())
        assert opened == number
    with pytest.raises(Exception):  # noqa: B017, PT011 - cryptography raises InvalidTag
        vault.decrypt(EncryptedMyNumber(key_id, sealed[0]), aad=b"0000000001")
    with pytest.raises(ValueError, match="not a valid My Number"):
        vault.encrypt_many([(numbers[0], b""), ("123456789017", b"")])


def test_blind_index_is_keyed_and_deterministic() -> None:
    a = MyNumberVault(keys={"k": b"k" * 32}, current_key_id="k", index_key=b"a" * 32)
    b = MyNumberVault(keys={"k": b"k" * 32}, current_key_id="k", index_key=b"b" * 32)
    assert a.blind_index("123456789018") == a.blind_index("123456789018")
    assert a.blind_index("123456789018") != b.blind_index("123456789018")


def test_lookup_indexes_match_the_previous_index_key_only_during_a_rekeying() -> None:
    old = MyNumberVault(keys={"k": b"k" * 32}, current_key_id="k", index_key=b"a" * 32)
    rekeying = MyNumberVault(
        keys={"k": b"k" * 32},
        current_key_id="k",
        index_key=b"b" * 32,
        index_key_id="ix2",
        previous_index_key=b"a" * 32,
    )
    number = "123456789018"
    assert old.lookup_indexes(number) == (old.blind_index(number),)
    assert rekeying.lookup_indexes(number) == (
        rekeying.blind_index(number),
        old.blind_index(number),
    )
    with pytest.raises(ValueError, match="previous blind index key is the current one"):
        MyNumberVault(
            keys={"k": b"k" * 32},
            current_key_id="k",
            index_key=b"a" * 32,
            previous_index_key=b"a" * 32,
        )


def test_vault_refuses_invalid_numbers() -> None:
    vault = MyNumberVault(keys={"k": b"k" * 32}, current_key_id="k", index_key=b"a" * 32)
    with pytest.raises(ValueError, match="not a valid My Number"):
        vault.encrypt("123456789017")


def test_local_government_codes() -> None:
    assert with_check_digit("40100") == "401005"
    assert with_check_digit("40130") == "401307"
    assert all(is_valid_lg_code(code) for code in KITAKYUSHU_WARDS)
    assert not is_valid_lg_code("401006")


def test_lg_and_my_number_rules_differ_at_remainder_zero() -> None:
    # A base whose weighted sum is divisible by 11: lg gives 1 where the My Number rule gives 0.
    base = next(
        f"{n:05d}"
        for n in range(10000, 99999)
        if sum(int(d) * w for d, w in zip(f"{n:05d}", (6, 5, 4, 3, 2), strict=True)) % 11 == 0
    )
    assert lg_check_digit(base) == 1


def test_log_redaction_replaces_only_valid_numbers() -> None:
    line = "person 123456789018 phone 090123456789 id 123456789017"
    redacted = redact_my_numbers(line)
    assert "123456789018" not in redacted
    assert "123456789017" in redacted  # fails the check digit: not a My Number


def test_uuids_are_never_taken_for_my_numbers() -> None:
    from mch_common.mynumber import contains_my_number

    text = "id 01a21768-c494-7eba-8d63-123456789018 and 123456789018"
    assert contains_my_number(text)
    assert redact_my_numbers(text) == "id 01a21768-c494-7eba-8d63-123456789018 and [REDACTED]"
    assert not contains_my_number("id 01a21768-c494-7eba-8d63-123456789018")


def test_a_my_number_glued_to_other_digits_is_found() -> None:
    from mch_common.mynumber import contains_my_number

    # Every 12-digit window of a longer run counts: a number typed without a separator after
    # another is still a My Number (the one rule for events, logs, input and bulk files).
    assert contains_my_number("tel 0931234567123456789018")
    assert contains_my_number("1234567890189")
    assert redact_my_numbers("ref 91234567890189 end") == "ref [REDACTED] end"
    assert not contains_my_number("093-123-4567 1234567897 2026-04-01")


def test_a_my_number_typed_in_full_width_is_found() -> None:
    from mch_common.mynumber import contains_my_number

    # A window's IME types digits in full width: in a note they are the same number.
    note = "連絡は １２３４５６７８９０１８ まで"
    assert contains_my_number(note)
    assert redact_my_numbers(note) == "連絡は [REDACTED] まで"
    assert contains_my_number("番号12345678901８")  # mixed widths, one run
    assert not contains_my_number("１２３４５６７８９０１７")  # fails the check digit
    assert not contains_my_number("電話 ０９３－５８２－２０１８")


@pytest.mark.parametrize(
    "text",
    [
        "番号 1234 5678 9018 です",  # as the card prints it
        "1234-5678-9018",
        "番号：１２３４　５６７８　９０１８",  # an IME's full width, ideographic spaces
        "１２３４－５６７８－９０１８",
        "1234 5678-9018",  # mixed separators
        "tel 093-582-2018、番号 1234 5678 9018",
    ],
)
def test_a_my_number_written_in_groups_of_four_is_found(text: str) -> None:
    from mch_common.mynumber import contains_my_number, may_hold_my_number

    assert contains_my_number(text)
    assert may_hold_my_number(text.encode())
    redacted = redact_my_numbers(text)
    assert "[REDACTED]" in redacted
    assert not any(group in redacted for group in ("5678", "５６７８"))


@pytest.mark.parametrize(
    "text",
    [
        "1234 5678 9017",  # fails the check digit
        "0120-1234-5678",  # a free dial number: 4-4-4, fails it too
        "1234  5678 9018",  # two spaces: not one number
        "12 3456 7890 18",
        "2026-12-06 12:00 tel 093-582-2018",
        # Four or more groups are a list of numbers, not the card's form: weights in grams
        # whose three-group windows pass the check digit, a font's widths in a PDF.
        "体重 1234 5678 9018 3100",
        "/W [ 1 9 1000 1234 5678 9018 ]",
        "ref 51234-5678-9018",  # a first group of five
    ],
)
def test_digits_in_groups_that_are_not_a_my_number_are_left(text: str) -> None:
    from mch_common.mynumber import contains_my_number

    assert not contains_my_number(text)
    assert redact_my_numbers(text) == text


def test_the_fast_look_at_ascii_text_finds_what_the_full_scan_finds() -> None:
    from mch_common.mynumber import _scan, contains_my_number

    # ASCII text is first looked at for 12 digits in a row by a byte table; the regex scan
    # (what non-ASCII text gets) is the reference. Digits, letters, separators, UUIDs and
    # valid and invalid numbers, 2,000 texts of up to 600 characters.
    rng = random.Random(18)
    number = generate_my_number(rng)
    grouped = f"{number[:4]} {number[4:8]}-{number[8:]}"
    pieces = ["0123456789", "abcdef", "-", " ", '{}":,', number, "123456789017", grouped]
    found = 0
    for _ in range(2000):
        text = "".join(rng.choice(pieces)[: rng.randrange(1, 13)] for _ in range(rng.randrange(60)))
        if rng.random() < 0.1:
            text += str(uuid.UUID(int=rng.getrandbits(128)))
        expected = _scan(text, replace=False)[0]
        assert contains_my_number(text) is expected
        assert (redact_my_numbers(text) != text) is expected
        found += expected
    assert 100 < found < 1900  # both answers were met often


def test_the_first_look_at_utf8_bytes_misses_no_my_number_in_ascii_or_full_width() -> None:
    import re

    from mch_common.mynumber import contains_my_number, may_hold_my_number

    # Batches of events are looked at as UTF-8 bytes first (mch_common.events.batch): every
    # text that holds a My Number in ASCII digits, full-width digits or both must be passed on
    # to contains_my_number; text with no 12 digits in a row mostly is not.
    rng = random.Random(19)
    widen = str.maketrans("0123456789", "０１２３４５６７８９")
    number = generate_my_number(rng)
    pieces = ["0123456789", "０１２３４５６７８９", "かな", "（株）", "－", " ", '":', "ＡＢ"]
    pieces += [number, number.translate(widen), number[:6] + number[6:].translate(widen)]
    wide = number.translate(widen)
    pieces += [
        f"{wide[:4]}\u3000{wide[4:8]}－{wide[8:]}",
        f"{number[:4]}-{number[4:8]} {number[8:]}",
    ]
    held = passed_on = 0
    for _ in range(2000):
        text = "".join(rng.choice(pieces)[: rng.randrange(1, 13)] for _ in range(rng.randrange(40)))
        looked_at = may_hold_my_number(text.encode())
        if contains_my_number(text):
            held += 1
            assert looked_at, text
        passed_on += looked_at
        # A no is certain: no 12 digits in a row, nor three groups of four.
        candidate = r"\d{12}|\d{4}[ \-\u3000－]\d{4}[ \-\u3000－]\d{4}"
        assert looked_at or re.search(candidate, text) is None, text
    assert 100 < held < passed_on < 1900
