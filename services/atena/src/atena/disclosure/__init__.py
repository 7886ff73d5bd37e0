"""Disclosure (開示請求, 個人情報保護法 art. 77): everything atena holds about one person."""
