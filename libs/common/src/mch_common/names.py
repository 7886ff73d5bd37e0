"""Search keys for names and kana, one rule for every service that compares names.

A clerk types 「ﾔﾏﾀﾞ　ﾀﾛｳ」, 「やまだたろう」 or 「髙橋」 and expects the same people as for
「ヤマダタロウ」 or 「高橋」. The key is: NFKC (full/half width), old kanji variants folded to
their common form, katakana folded to hiragana, every space removed.
"""

import unicodedata
from functools import lru_cache

# 異体字: old or variant forms registered in family names, folded to the common form.
KANJI_VARIANTS = {
    "髙": "高",
    "﨑": "崎",
    "嵜": "崎",
    "邊": "辺",
    "邉": "辺",
    "齋": "斎",
    "齊": "斎",
    "澤": "沢",
    "濱": "浜",
    "廣": "広",
    "國": "国",
    "櫻": "桜",
    "德": "徳",
    "惠": "恵",
    "實": "実",
    "與": "与",
    "龍": "竜",
    "圓": "円",
    "藏": "蔵",
    "眞": "真",
}

_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(ord("ァ"), ord("ヶ") + 1)}
_TABLE: dict[int, int | str] = {ord(k): v for k, v in KANJI_VARIANTS.items()}
_TABLE.update(_KATAKANA_TO_HIRAGANA)
_SPACES = str.maketrans("", "", " \u3000\t\r\n\u00a0")
# Both in one pass: _TABLE neither maps a space nor maps anything to one.
_TABLE_AND_SPACES = {**_TABLE, **_SPACES}


def search_key(text: str | None) -> str:
    if not text:
        return ""
    return _search_key(text)


# Names repeat a lot (a bulk load asks for four keys per line), so the keys are remembered.
@lru_cache(maxsize=1 << 14)
def _search_key(text: str) -> str:
    # NFKC first: it turns half-width katakana and full-width letters into their normal
    # forms, and maps compatibility ideographs such as U+FA11 (﨑) where Unicode defines one.
    return unicodedata.normalize("NFKC", text).translate(_TABLE_AND_SPACES).lower()


def name_key(family: str | None, given: str | None) -> str:
    return search_key(family) + search_key(given)
