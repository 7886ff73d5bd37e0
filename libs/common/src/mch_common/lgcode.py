"""Local government code (地方公共団体コード) check digit.

Five digits weighted 6,5,4,3,2 from the left; the check digit is the last digit of
11 - (sum mod 11). Kitakyushu 40100 -> 401005. Not the My Number rule: when the remainder
is 0 this gives 1 (11 -> 1), the My Number rule gives 0.
"""

KITAKYUSHU = "401005"
KITAKYUSHU_WARDS = {
    "401013": "門司区",
    "401021": "若松区",
    "401030": "戸畑区",
    "401064": "小倉北区",
    "401072": "小倉南区",
    "401081": "八幡東区",
    "401099": "八幡西区",
}


def lg_check_digit(code5: str) -> int:
    if len(code5) != 5 or not code5.isdigit():
        raise ValueError("a local government code base is 5 digits")
    total = sum(int(d) * w for d, w in zip(code5, (6, 5, 4, 3, 2), strict=True))
    return (11 - total % 11) % 10


def with_check_digit(code5: str) -> str:
    return code5 + str(lg_check_digit(code5))


def is_valid_lg_code(code6: str) -> bool:
    return (
        len(code6) == 6
        and code6.isascii()
        and code6.isdigit()
        and lg_check_digit(code6[:5]) == int(code6[5])
    )
