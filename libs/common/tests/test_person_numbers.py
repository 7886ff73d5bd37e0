"""Person numbers (mch_common.person_numbers): atena issues them, the immunization bridge
checks the register's by the same rule."""

import pytest

from mch_common.person_numbers import is_valid_person_no, luhn_check_digit, person_no_from_serial


def test_person_numbers_are_ten_digits_with_a_luhn_check_digit() -> None:
    assert person_no_from_serial(123456789) == "1234567897"
    assert luhn_check_digit("7992739871") == 3  # the textbook example
    assert is_valid_person_no("1234567897")
    assert not is_valid_person_no("1234567890")
    assert not is_valid_person_no("123456789")
    assert not is_valid_person_no("１２３４５６７８９７")
    for serial in (100_000_001, 555_555_555, 799_999_999):
        number = person_no_from_serial(serial)
        assert len(number) == 10
        assert is_valid_person_no(number)
        # A single-digit typo is always caught.
        for i in range(10):
            typo = number[:i] + str((int(number[i]) + 3) % 10) + number[i + 1 :]
            assert not is_valid_person_no(typo)
    with pytest.raises(ValueError, match="exhausted"):
        person_no_from_serial(1_000_000_000)


def test_a_serial_is_numbered_as_the_luhn_rule_numbers_its_digits() -> None:
    """person_no_from_serial sums three digits at a time; luhn_check_digit, digit by digit,
    is the reference: every serial of a range, random ones and the edges agree."""
    import random

    rng = random.Random(5)
    serials = [*range(100_000_000, 100_002_000), 0, 999_999_999]
    serials += [rng.randrange(1_000_000_000) for _ in range(20_000)]
    for serial in serials:
        base = f"{serial:09d}"
        assert person_no_from_serial(serial) == base + str(luhn_check_digit(base)), serial
    with pytest.raises(ValueError, match="exhausted"):
        person_no_from_serial(-1)
