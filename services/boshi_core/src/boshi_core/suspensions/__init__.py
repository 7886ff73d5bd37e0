"""Suspension of use (利用停止, 個人情報保護法 art. 98): the uses a decision stopped for a
person, honoured by the extraction and the reminder runs, and published for other services."""
