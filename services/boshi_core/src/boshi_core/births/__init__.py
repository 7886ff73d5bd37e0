"""Pregnancy outcomes, children, and low birth weight notifications (低体重児の届出)."""
