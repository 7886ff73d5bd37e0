"""The person number (宛名番号) and the household number (世帯番号): atena issues them, every
service that reads one (the immunization register's files, for instance) checks it by this rule.

Both are 10 digits: a 9-digit serial and a Luhn check digit. Never 12 digits, so nothing the
registry issues can be mistaken for a My Number (mynumber.py). Household numbers start with 8
and person numbers with 1-7, so the two are told apart at a glance.
"""

PERSON_NO_LENGTH = 10
PERSON_SERIAL_START = 100_000_001
HOUSEHOLD_SERIAL_START = 800_000_001


# Luhn doubles a digit and subtracts 9 when the result has two digits: 5 -> 1, 9 -> 9 and so on.
_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")


def luhn_check_digit(payload: str) -> int:
    """Luhn (mod 10) check digit for `payload`, to be appended on the right."""
    if not payload or not payload.isascii() or not payload.isdigit():
        raise ValueError("a Luhn payload is digits")
    # Rightmost first: it and every second digit from it are doubled. Summing the ASCII codes
    # in C is fast; the codes exceed the digits' values by ord("0") each.
    digits = payload.encode()[::-1]
    total = sum(digits[0::2].translate(_DOUBLED)) + sum(digits[1::2]) - ord("0") * len(digits)
    return -total % 10


# A 9-digit serial's Luhn sum, three digits at a time (numbers are issued a million at a time
# in a bulk load): the rightmost digit is doubled, so in the lowest and the highest group of
# three the outer digits are, in the middle group the middle one.
_DOUBLED_DIGIT = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_OUTER_DOUBLED = [
    _DOUBLED_DIGIT[n // 100] + n // 10 % 10 + _DOUBLED_DIGIT[n % 10] for n in range(1000)
]
_MIDDLE_DOUBLED = [n // 100 + _DOUBLED_DIGIT[n // 10 % 10] + n % 10 for n in range(1000)]


def person_no_from_serial(serial: int) -> str:
    if not 0 <= serial < 1_000_000_000:
        raise ValueError("the person number serial is exhausted")
    high, rest = divmod(serial, 1_000_000)
    middle, low = divmod(rest, 1000)
    total = _OUTER_DOUBLED[high] + _MIDDLE_DOUBLED[middle] + _OUTER_DOUBLED[low]
    return f"{serial:09d}{-total % 10}"


def is_valid_person_no(value: str) -> bool:
    return (
        len(value) == PERSON_NO_LENGTH
        and value.isascii()
        and value.isdigit()
        and luhn_check_digit(value[:-1]) == int(value[-1])
    )
