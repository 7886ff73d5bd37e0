"""The person number (宛名番号) and the household number (世帯番号).

Both are 10 digits: a 9-digit serial and a Luhn check digit. Never 12 digits, so nothing the
registry issues can be mistaken for a My Number. Household numbers start with 8 and person
numbers with 1-7, so the two are told apart at a glance.
"""

PERSON_NO_LENGTH = 10
PERSON_SERIAL_START = 100_000_001
HOUSEHOLD_SERIAL_START = 800_000_001


def luhn_check_digit(payload: str) -> int:
    """Luhn (mod 10) check digit for `payload`, to be appended on the right."""
    if not payload or not payload.isascii() or not payload.isdigit():
        raise ValueError("a Luhn payload is digits")
    total = 0
    for offset, char in enumerate(reversed(payload)):
        digit = int(char)
        if offset % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def person_no_from_serial(serial: int) -> str:
    base = f"{serial:09d}"
    if len(base) != 9:
        raise ValueError("the person number serial is exhausted")
    return base + str(luhn_check_digit(base))


def is_valid_person_no(value: str) -> bool:
    return (
        len(value) == PERSON_NO_LENGTH
        and value.isascii()
        and value.isdigit()
        and luhn_check_digit(value[:-1]) == int(value[-1])
    )

