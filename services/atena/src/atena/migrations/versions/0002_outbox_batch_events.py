"""A bulk load's registrations go to the outbox as one batch row per chunk; the relay
(mch_common.events.relay) asks outbox_batch_events(position) for the events it stands for.

Each event is the one the loader used to write row by row: the change row's `after`, the
first version's snapshot as `person`, the batch's time, tenant and correlation id. Both rows
are history the batch's own transaction wrote and nothing rewrites them (a correction adds a
version row), so every expansion gives the same events; each id is derived from the batch
row's id and the person number (a UUIDv7 with the batch's timestamp).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Joins, not a lookup per person: a relay may expand a batch while an initial load has the
# history tables' indexes dropped. A correction may copy version 1 (same snapshot): the
# first row counts.
_FUNCTION = """
CREATE FUNCTION outbox_batch_events(batch_position bigint)
RETURNS TABLE (event_id uuid, envelope text, correlation_id text)
-- A batch's rows are sorted in memory, not in temporary files.
LANGUAGE sql STABLE SET work_mem = '64MB' AS $$
    WITH o AS MATERIALIZED (
        -- Read out once: the envelope is a large value, decompressed on every access.
        SELECT event_id, subject, envelope->>'time' AS time, envelope->>'tenant' AS tenant,
               envelope->>'correlationid' AS correlation_id,
               envelope->'outbox_batch'->'person_nos' AS person_nos
        FROM outbox WHERE position = batch_position
    ), b AS (
        SELECT b.person_no, b.n, decode(md5(o.event_id::text || b.person_no), 'hex') AS h,
               substring(uuid_send(o.event_id) FROM 1 FOR 6) AS ms
        FROM o, jsonb_array_elements_text(o.person_nos) WITH ORDINALITY AS b (person_no, n)
    ), c AS (
        SELECT DISTINCT ON (person_no) person_no, effective_date, before, after
        FROM person_change
        WHERE person_no IN (SELECT person_no FROM b) AND version = 1
          AND change_type = 'registered'
        ORDER BY person_no, id
    ), v AS (
        SELECT DISTINCT ON (person_no) person_no, snapshot FROM person_version
        WHERE person_no IN (SELECT person_no FROM b) AND version = 1
        ORDER BY person_no, id
    ), e AS (
        -- A UUIDv7: the batch row's timestamp, then bits of md5(batch id, person number).
        SELECT b.*, encode(set_byte(set_byte(overlay(b.h placing b.ms FROM 1 FOR 6),
                   6, (get_byte(b.h, 6) & 15) | 112), 8, (get_byte(b.h, 8) & 63) | 128),
               'hex')::uuid AS id
        FROM b
    )
    SELECT e.id, json_build_object(
        'specversion', '1.0', 'id', e.id, 'source', '/atena', 'type', o.subject,
        'subject', e.person_no, 'time', o.time, 'datacontenttype', 'application/json',
        'tenant', o.tenant, 'correlationid', o.correlation_id,
        'data', json_build_object(
            'person_no', e.person_no, 'effective_date', c.effective_date, 'before', c.before,
            'after', c.after, 'person', v.snapshot
        )
    )::text, o.correlation_id
    FROM o, e JOIN c USING (person_no) JOIN v USING (person_no)
    ORDER BY e.n
$$
"""


def upgrade() -> None:
    op.execute(_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS outbox_batch_events(bigint)")
