-- Only SECURITY DEFINER functions fix their search_path. The others (handlers
-- and helpers on the hot path) carry no SET: it costs a settings swap on every
-- call and stops PostgreSQL from inlining small SQL functions (a SQL function
-- with SET is planned anew on every call). None is callable by PUBLIC, they run
-- inside our SECURITY DEFINER entry points, and every name in them is qualified.

-- Charger timestamps: RFC 3339 in theory; in practice some firmware drops the
-- offset. Those are read as UTC rather than in the session's time zone.
CREATE OR REPLACE FUNCTION ocpp._ts(value text)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN value IS NULL THEN NULL
        WHEN value ~ '(Z|z|[+-]\d\d(:?\d\d)?)$' THEN value::timestamptz
        ELSE value::timestamp AT TIME ZONE 'UTC'
    END
$$;
COMMENT ON FUNCTION ocpp._ts(text) IS 'A charger timestamp as timestamptz; no offset means UTC.';

CREATE OR REPLACE FUNCTION ocpp._iso(at timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
COMMENT ON FUNCTION ocpp._iso(timestamptz) IS 'A timestamp as the charger expects it: UTC, milliseconds, Z.';

-- A charger clock is flagged when it reports a time in the future beyond the
-- tolerance, or before 2010 (an unset clock says 1970). Past times are normal:
-- chargers queue messages while offline. Only changes touch the row. For any
-- number of reports at once (each charger at most once): the group commit's
-- batch, or one (ocpp._check_clock).
CREATE OR REPLACE FUNCTION ocpp._check_clocks(charge_point_ids text[], unique_ids text[], charger_ats timestamptz[])
RETURNS void
LANGUAGE plpgsql
-- Chargers found by key: PostgreSQL cannot know how many the arrays hold and,
-- planning for ten, would read every charger of a fleet of a few thousand.
SET enable_seqscan = off
AS $$
DECLARE
    tolerance interval := make_interval(secs => ocpp._setting('clock_skew_tolerance')::double precision);
BEGIN
    WITH reported AS (
        SELECT r.charge_point_id, r.unique_id, r.charger_at, r.charger_at - now() AS skew,
               r.charger_at - now() > tolerance OR r.charger_at < '2010-01-01' AS flagged, r.n
          FROM unnest(charge_point_ids, unique_ids, charger_ats) WITH ORDINALITY
               AS r(charge_point_id, unique_id, charger_at, n)
         WHERE r.charger_at IS NOT NULL
    ), changed AS (
        -- Flagged when newly wrong, cleared when right again; else untouched.
        UPDATE pgcsms.charge_points AS cp SET clock_skew = CASE WHEN reported.flagged THEN reported.skew END
          FROM reported
         WHERE cp.id = reported.charge_point_id
           AND (reported.flagged AND cp.clock_skew IS NULL OR NOT reported.flagged AND cp.clock_skew IS NOT NULL)
        RETURNING cp.id, reported.flagged
    )
    INSERT INTO pgcsms.anomalies (charge_point_id, kind, unique_id, detail)
    SELECT reported.charge_point_id, 'clock_skew', reported.unique_id,
           jsonb_build_object('charger_at', reported.charger_at, 'received_at', now(), 'skew', reported.skew::text)
      FROM reported JOIN changed ON changed.id = reported.charge_point_id AND changed.flagged
     ORDER BY reported.n;
END
$$;
COMMENT ON FUNCTION ocpp._check_clocks(text[], text[], timestamptz[]) IS
    'Flags (charge_points.clock_skew, an anomaly) chargers whose clock is in the future beyond clock_skew_tolerance or before 2010; clears the flag when it is right again. Element i of each array is one report; each charger at most once.';

CREATE OR REPLACE FUNCTION ocpp._check_clock(charge_point_id text, unique_id text, charger_at timestamptz)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF charger_at IS NOT NULL THEN
        PERFORM ocpp._check_clocks(ARRAY[charge_point_id], ARRAY[unique_id], ARRAY[charger_at]);
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._check_clock(text, text, timestamptz) IS
    'Flags (charge_points.clock_skew, an anomaly) a charger whose clock is in the future beyond clock_skew_tolerance or before 2010; clears the flag when it is right again.';
