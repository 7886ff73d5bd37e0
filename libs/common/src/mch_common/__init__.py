"""Shared mechanisms of the maternal and child health (母子保健) platform.

Every service uses these the same way: settings, database helpers, the event backbone
(outbox, relay, idempotent consumer), JWT auth, the audit log, My Number helpers and the
HTTP conventions (problem+json, health, metrics, JSON logs).
"""
