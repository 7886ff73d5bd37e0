"""The loader's SQL and column lists: set-based statements over a chunk (COPY'd into a
temporary staging table for the people already registered), and what they write."""

# Compared to decide whether a line changes the person, and copied on insert/update.
DATA_COLUMNS = (
    "external_key",
    "residence_status",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "name_key",
    "kana_key",
    "sex",
    "birth_date",
    "death_date",
    "postal_code",
    "prefecture",
    "municipality_code",
    "ward_code",
    "town",
    "block",
    "building",
    "household_no",
    "relationship_to_head",
    "phone",
    "email",
)
STAGING_COLUMNS = (
    "line_no",
    "person_no",
    *DATA_COLUMNS,
    "mn_key_id",
    "mn_cipher",
    "mn_blind",
    "mn_index_key_id",
    "effective_date",
)
# A new person's row and My Number go straight to their tables (COPY).
PERSON_COLUMNS = ("person_no", "version", "delivery_addresses", *DATA_COLUMNS)
MY_NUMBER_COLUMNS = ("person_no", "key_id", "ciphertext", "blind_index", "index_key_id")
LOADED = '{"source": "bulk_load"}'
REASON = "resident registry extract"

SETUP = """
CREATE TEMP TABLE IF NOT EXISTS atena_staging (
    line_no int, person_no text, external_key text, residence_status text, family_name text,
    given_name text, family_name_kana text, given_name_kana text, name_key text COLLATE "C",
    kana_key text COLLATE "C", sex text, birth_date date, death_date date, postal_code text,
    prefecture text, municipality_code text, ward_code text, town text, block text,
    building text, household_no text, relationship_to_head text, phone text, email text,
    mn_key_id text, mn_cipher bytea, mn_blind bytea, mn_index_key_id text, effective_date date
);
CREATE TEMP TABLE IF NOT EXISTS atena_before (person_no text PRIMARY KEY, snap jsonb);
CREATE TEMP TABLE IF NOT EXISTS atena_changed (
    person_no text PRIMARY KEY, inserted bool, snap jsonb, eff date,
    verb text, before jsonb, after jsonb
);
"""
RESET = "TRUNCATE atena_staging, atena_before, atena_changed"
# A chunk joins its rows (thousands) to tables of up to millions, where a probe of the primary
# key per row is the plan. A table the load is filling has no statistics, and the planner
# hashed or merged the whole of `person` for each chunk's registrations: a cost that grew
# with the table (at 1,000,000 people, a third of a second of a chunk's 20,000).
CHUNK_PLANS = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"

_cols = ", ".join(DATA_COLUMNS)
_p_cols = ", ".join(f"p.{c}" for c in DATA_COLUMNS)
_s_cols = ", ".join(f"s.{c}" for c in DATA_COLUMNS)

BEFORE = f"""
INSERT INTO atena_before (person_no, snap)
SELECT p.person_no, atena_snapshot(p) FROM atena_staging s JOIN person p USING (person_no)
WHERE ({_p_cols}) IS DISTINCT FROM ({_s_cols})
"""
UPDATE_EXISTING = f"""
WITH up AS (
    UPDATE person AS p SET ({_cols}) = ({_s_cols}), version = p.version + 1, updated_at = now()
    FROM atena_staging s
    WHERE s.person_no = p.person_no AND ({_p_cols}) IS DISTINCT FROM ({_s_cols})
    RETURNING p.person_no, atena_snapshot(p) AS snap, s.effective_date
)
INSERT INTO atena_changed (person_no, inserted, snap, eff)
SELECT up.person_no, false, up.snap, up.effective_date FROM up
"""
# A later line may not rewrite what an earlier change recorded: such a change takes effect
# no earlier than the latest version it follows.
EFFECTIVE = """
UPDATE atena_changed c SET eff = GREATEST(c.eff, v.latest)
FROM (SELECT person_no, max(valid_from) AS latest FROM person_version
      WHERE superseded_at IS NULL AND person_no IN
          (SELECT person_no FROM atena_changed WHERE NOT inserted)
      GROUP BY person_no) v
WHERE v.person_no = c.person_no
"""
DIFF = """
UPDATE atena_changed c SET before = d.before, after = d.after, verb = CASE
        WHEN d.keys @> ARRAY['residence_status'] AND c.snap->>'residence_status' = 'deceased'
            THEN 'died'
        WHEN d.keys @> ARRAY['residence_status'] AND c.snap->>'residence_status' = 'moved_out'
            THEN 'moved_out'
        WHEN d.keys @> ARRAY['residence_status'] AND c.snap->>'residence_status' = 'resident'
            THEN 'moved_in'
        WHEN d.keys <@ ARRAY['address', 'household_no', 'relationship_to_head']
            THEN 'address_changed'
        WHEN d.keys <@ ARRAY['family_name', 'given_name', 'family_name_kana', 'given_name_kana']
            THEN 'name_changed'
        ELSE 'corrected' END
FROM (SELECT c2.person_no, jsonb_object_agg(k, b.snap->k) AS before,
             jsonb_object_agg(k, c2.snap->k) AS after, array_agg(k) AS keys
      FROM atena_changed c2 JOIN atena_before b USING (person_no),
           LATERAL jsonb_object_keys(c2.snap) AS k
      WHERE NOT c2.inserted AND k <> 'version' AND b.snap->k IS DISTINCT FROM c2.snap->k
      GROUP BY c2.person_no) d
WHERE d.person_no = c.person_no
"""
CLOSE_VERSIONS = """
UPDATE person_version v SET valid_to = c.eff
FROM atena_changed c
WHERE NOT c.inserted AND v.person_no = c.person_no AND v.valid_to IS NULL
  AND v.superseded_at IS NULL
"""
VERSIONS = """
INSERT INTO person_version (person_no, version, valid_from, snapshot, recorded_at)
SELECT person_no, (snap->>'version')::int, eff, snap, now() FROM atena_changed
"""
CHANGES = """
INSERT INTO person_change
    (person_no, version, change_type, effective_date, actor, reason, before, after, detail)
SELECT person_no, (snap->>'version')::int, verb, eff, $1, $2, before, after, $3::jsonb
FROM atena_changed
"""
# The events of the merged people: (type, person number, payload), grouped by type. The
# payloads are atena.events' person payloads, built here from the rows just written.
CHANGED_EVENTS = """
SELECT 'atena.person.' || verb, person_no, (jsonb_build_object(
        'person_no', person_no, 'effective_date', eff, 'before', before, 'after', after,
        'person', snap
    ) || CASE verb
        WHEN 'moved_in' THEN '{"previous_municipality_code": null}'::jsonb
        WHEN 'moved_out' THEN '{"destination_municipality_code": null}'::jsonb
        ELSE '{}'::jsonb END)::text
FROM atena_changed ORDER BY verb, person_no
"""
# New people, once COPY'd: their first version and the registration in one statement; the
# snapshot is built once per person and kept in memory, not in a table. With events, each
# registration's `after` (the snapshot without its version) comes back as JSON text, from
# which the loader writes the payload (writing.registered_payload): PostgreSQL turning the
# whole payload into text, the snapshot twice in it, cost it a fifth of its time per resident.
_REGISTER = """
WITH s AS MATERIALIZED (
    SELECT p.person_no, e.eff, atena_snapshot(p) AS snap
    FROM unnest($1::text[], $2::date[]) AS e (person_no, eff) JOIN person p USING (person_no)
), n AS MATERIALIZED (
    SELECT person_no, eff, 'registered'::text AS verb, '{{}}'::jsonb AS before,
           snap - 'version' AS after, snap
    FROM s
), versions AS (
    INSERT INTO person_version (person_no, version, valid_from, snapshot)
    SELECT person_no, 1, eff, snap FROM n
), changes AS (
    INSERT INTO person_change
        (person_no, version, change_type, effective_date, actor, reason, before, after, detail)
    SELECT person_no, 1, verb, eff, $3, $4, before, after, $5::jsonb FROM n
    RETURNING 1
)
{result}
"""
# Three values in one row, not a row per person: far less for the loader's event loop to
# unpack (a tenth of its time went to the rows). One aggregation keeps them in step.
# The `after` texts come as UTF-8 bytes, which the loader writes into the payloads as they are
# (writing.registered_payload), one a line: JSON text holds no raw newline. Joined, not an
# array: 2.2 against 2.9 µs a person of the backend's time to gather and send them.
REGISTER_EVENTS = _REGISTER.format(
    result="SELECT array_agg(person_no), array_agg(eff),"
    " string_agg(convert_to(after::text, 'UTF8'), '\\x0a'::bytea) FROM n"
)
REGISTER_ONLY = _REGISTER.format(result="SELECT count(*) FROM changes")
HOUSEHOLDS_KNOWN = (
    "SELECT h.external_key, h.household_no FROM unnest($1::text[]) AS k (external_key)"
    " JOIN household h USING (external_key)"
)
# Households first, each in one statement of its own: concurrent chunks naming the same
# household wait for each other only for this statement, and sorted keys never deadlock.
HOUSEHOLDS = """
INSERT INTO household (household_no, external_key)
SELECT n, k FROM unnest($1::text[], $2::text[]) AS h (k, n) ORDER BY k COLLATE "C"
ON CONFLICT (external_key) DO NOTHING
RETURNING external_key, household_no
"""
MY_NUMBERS = """
INSERT INTO person_my_number (person_no, key_id, ciphertext, blind_index, index_key_id)
SELECT person_no, mn_key_id, mn_cipher, mn_blind, mn_index_key_id FROM atena_staging
WHERE mn_blind IS NOT NULL
ON CONFLICT (person_no) DO UPDATE SET key_id = EXCLUDED.key_id,
    ciphertext = EXCLUDED.ciphertext, blind_index = EXCLUDED.blind_index,
    index_key_id = EXCLUDED.index_key_id, registered_at = now()
WHERE person_my_number.blind_index <> EXCLUDED.blind_index
"""
