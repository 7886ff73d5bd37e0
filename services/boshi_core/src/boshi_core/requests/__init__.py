"""Requests from the people in the records (個人情報保護法 arts. 76-103): disclosure, correction
and suspension of use, from receipt to the decision within its legal deadline and fulfilment."""
