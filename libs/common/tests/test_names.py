"""Name search keys (mch_common.names): atena's search and e_application's identity check
compare names by the same key."""

import pytest

from mch_common.names import name_key, search_key


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "やまだたろう"),
        ("ヤマダ　タロウ", "やまだたろう"),
        ("髙橋", "高橋"),
        ("山﨑", "山崎"),
        ("渡邊", "渡辺"),
        ("渡邉", "渡辺"),
        ("齋藤", "斎藤"),
        ("齊藤", "斎藤"),
        ("澤田", "沢田"),
        ("濱口", "浜口"),
        ("廣瀬", "広瀬"),
        ("國分", "国分"),
        ("ＳＭＩＴＨ　Ｊｏｈｎ", "smithjohn"),
        ("ヴァイオレット", "ゔぁいおれっと"),
    ],
)
def test_search_keys(typed: str, key: str) -> None:
    assert search_key(typed) == key


def test_a_missing_name_has_the_empty_key() -> None:
    assert search_key(None) == ""
    assert search_key("") == ""
    assert search_key(" \u3000") == ""


def test_the_name_key_is_family_then_given() -> None:
    assert name_key("髙橋", "ﾊﾅｺ") == "高橋はなこ"
    assert name_key("高橋", None) == "高橋"
    assert name_key(None, None) == ""
