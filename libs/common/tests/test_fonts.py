from mch_common.fonts import IPAEX_GOTHIC


def test_the_japanese_font_ships_with_its_licence() -> None:
    assert IPAEX_GOTHIC.read_bytes()[:4] == b"\x00\x01\x00\x00"  # a TrueType font
    assert (IPAEX_GOTHIC.parent / "IPA_Font_License_Agreement_v1.0.txt").is_file()
