"""Checkup reminders (受診勧奨): idempotent, resumable monthly runs of letters and a CSV."""
