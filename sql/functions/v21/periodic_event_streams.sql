-- OCPP 2.1 periodic event streams (N11-N15): a monitor of kind
-- PeriodicEventStream makes the station open a stream
-- (OpenPeriodicEventStream) and send its values in batches as unconfirmed
-- SENDs (NotifyPeriodicEventStream), many a minute, until it closes it
-- (ClosePeriodicEventStream). Each value is a row a BI tool can chart
-- (pgcsms.periodic_event_values: stream, time, value); the stream says which
-- variable it carries, from the monitor it was opened for.

CREATE OR REPLACE FUNCTION ocpp._v21_open_stream(charge_point_id text, stream jsonb, source text, unique_id text)
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO pgcsms.periodic_event_streams AS s
        (charge_point_id, stream_id, variable_monitoring_id, interval_s, value_count, component, component_instance,
         evse_id, connector_id, variable, variable_instance, source, opened_at, unique_id)
    SELECT _v21_open_stream.charge_point_id, (stream->>'id')::integer, (stream->>'variableMonitoringId')::integer,
           (stream->'params'->>'interval')::integer, (stream->'params'->>'values')::integer,
           v.component, v.component_instance, v.evse_id, v.connector_id, v.variable, v.variable_instance,
           _v21_open_stream.source, now(), _v21_open_stream.unique_id
      FROM (SELECT 1) AS one
      LEFT JOIN pgcsms.variable_monitors AS m
             ON m.charge_point_id = _v21_open_stream.charge_point_id
            AND m.monitor_id = (stream->>'variableMonitoringId')::integer
      LEFT JOIN pgcsms.device_model_variables AS v ON (v.charge_point_id, v.id) = (m.charge_point_id, m.variable_id)
    ON CONFLICT (charge_point_id, stream_id) DO UPDATE
       SET variable_monitoring_id = excluded.variable_monitoring_id, interval_s = excluded.interval_s,
           value_count = excluded.value_count,
           component = coalesce(excluded.component, s.component),
           component_instance = CASE WHEN excluded.component IS NULL THEN s.component_instance ELSE excluded.component_instance END,
           evse_id = CASE WHEN excluded.component IS NULL THEN s.evse_id ELSE excluded.evse_id END,
           connector_id = CASE WHEN excluded.component IS NULL THEN s.connector_id ELSE excluded.connector_id END,
           variable = coalesce(excluded.variable, s.variable),
           variable_instance = CASE WHEN excluded.component IS NULL THEN s.variable_instance ELSE excluded.variable_instance END,
           -- A stream the station reopens starts afresh; one a report lists stays as it was opened.
           source = CASE WHEN excluded.source = 'report' AND s.source <> 'data' THEN s.source ELSE excluded.source END,
           opened_at = CASE WHEN excluded.source = 'station' OR s.closed_at IS NOT NULL OR s.opened_at IS NULL
                            THEN excluded.opened_at ELSE s.opened_at END,
           closed_at = NULL,
           unique_id = coalesce(excluded.unique_id, s.unique_id), updated_at = now()
$$;
COMMENT ON FUNCTION ocpp._v21_open_stream(text, jsonb, text, text) IS
    'A periodic event stream (ConstantStreamDataType: id, params interval and values, variableMonitoringId) open in pgcsms.periodic_event_streams, with the component and variable of its monitor (ocpp.variable_monitors) when known; source station (OpenPeriodicEventStream) or report (GetPeriodicEventStream).';

CREATE OR REPLACE FUNCTION ocpp.v21_open_periodic_event_stream(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp._v21_open_stream(charge_point_id, payload->'constantStreamData', 'station', unique_id);
    SELECT jsonb_build_object('status', 'Accepted')
$$;
COMMENT ON FUNCTION ocpp.v21_open_periodic_event_stream(text, text, jsonb) IS
    'OpenPeriodicEventStream (2.1, N15): the stream (its id, interval, values and the variable of its monitor) in ocpp.periodic_event_streams, open; answered Accepted.';

CREATE OR REPLACE FUNCTION ocpp.v21_close_periodic_event_stream(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    UPDATE pgcsms.periodic_event_streams AS s SET closed_at = now(), updated_at = now()
     WHERE s.charge_point_id = v21_close_periodic_event_stream.charge_point_id
       AND s.stream_id = (payload->>'id')::integer AND s.closed_at IS NULL;
    SELECT '{}'::jsonb
$$;
COMMENT ON FUNCTION ocpp.v21_close_periodic_event_stream(text, text, jsonb) IS
    'ClosePeriodicEventStream (2.1, N13): the stream closed in ocpp.periodic_event_streams (its values stay). Answers {}.';

-- A SEND: nothing is answered (the proxy drops what this returns).
CREATE OR REPLACE FUNCTION ocpp.v21_notify_periodic_event_stream(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    stream integer := (payload->>'id')::integer;
    base timestamptz := ocpp._ts(payload->>'basetime');
    latest timestamptz;
BEGIN
    WITH stored AS (
        INSERT INTO pgcsms.periodic_event_values (charge_point_id, stream_id, at, value, numeric_value, unique_id)
        SELECT v21_notify_periodic_event_stream.charge_point_id, stream,
               base + make_interval(secs => (d->>'t')::double precision), d->>'v',
               CASE WHEN (d->>'v') ~ '^\s*[-+]?(\d{1,20}\.?\d{0,20}|\.\d{1,20})([eE][-+]?\d{1,2})?\s*$'
                    THEN (d->>'v')::double precision END,
               v21_notify_periodic_event_stream.unique_id
          FROM jsonb_array_elements(ocpp._array(payload->'data')) AS x(d)
        RETURNING at)
    SELECT max(at) INTO latest FROM stored;
    -- Values of a stream never opened here (opened before pgcsms knew it)
    -- make it known, its variable unknown.
    INSERT INTO pgcsms.periodic_event_streams AS s
        (charge_point_id, stream_id, source, pending, last_value_at, unique_id)
    VALUES (charge_point_id, stream, 'data', (payload->>'pending')::integer, latest, unique_id)
    ON CONFLICT ON CONSTRAINT periodic_event_streams_pkey DO UPDATE
       SET pending = excluded.pending, last_value_at = greatest(s.last_value_at, excluded.last_value_at),
           updated_at = now();
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v21_notify_periodic_event_stream(text, text, jsonb) IS
    'NotifyPeriodicEventStream (2.1, a SEND, N15): each value of data into ocpp.periodic_event_values, at basetime plus its t seconds, numeric_value when it is a number; the stream''s pending and last_value_at in ocpp.periodic_event_streams (made known, source data, when it was never opened here). Never answered.';

CREATE OR REPLACE FUNCTION ocpp.get_periodic_event_stream(charge_point_id text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetPeriodicEventStream', '{}'::jsonb, expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_periodic_event_stream(text, timestamptz) IS
    'Queues GetPeriodicEventStream (OCPP 2.1, N12): the station lists its open streams; the answer (completed) opens them in ocpp.periodic_event_streams and closes those it does not list. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_periodic_event_stream(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_periodic_event_stream(text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.adjust_periodic_event_stream(
    charge_point_id text, stream_id integer, interval_s integer DEFAULT NULL, value_count integer DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'AdjustPeriodicEventStream', jsonb_build_object(
        'id', stream_id,
        'params', jsonb_strip_nulls(jsonb_build_object('interval', interval_s, 'values', value_count))), expires_at)
$$;
COMMENT ON FUNCTION ocpp.adjust_periodic_event_stream(text, integer, integer, integer, timestamptz) IS
    'Queues AdjustPeriodicEventStream (OCPP 2.1, N14): the station sends the stream''s values every interval_s seconds or every value_count values (params interval and values: either, both, or neither, as soon as it can). Accepted changes them in ocpp.periodic_event_streams. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.adjust_periodic_event_stream(text, integer, integer, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.adjust_periodic_event_stream(text, integer, integer, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp._v21_effect_periodic_event_stream(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    stream jsonb;
BEGIN
    IF c.action = 'AdjustPeriodicEventStream' AND c.status = 'accepted' THEN
        UPDATE pgcsms.periodic_event_streams AS s
           SET interval_s = (c.payload->'params'->>'interval')::integer,
               value_count = (c.payload->'params'->>'values')::integer, updated_at = now()
         WHERE s.charge_point_id = c.charge_point_id AND s.stream_id = (c.payload->>'id')::integer;
    ELSIF c.action = 'GetPeriodicEventStream' AND c.status = 'completed' THEN
        FOR stream IN SELECT value FROM jsonb_array_elements(ocpp._array(c.response->'constantStreamData')) LOOP
            PERFORM ocpp._v21_open_stream(c.charge_point_id, stream, 'report', NULL);
        END LOOP;
        UPDATE pgcsms.periodic_event_streams AS s SET closed_at = now(), updated_at = now()
         WHERE s.charge_point_id = c.charge_point_id AND s.closed_at IS NULL
           AND s.stream_id NOT IN (SELECT (d->>'id')::integer
                                     FROM jsonb_array_elements(ocpp._array(c.response->'constantStreamData')) AS x(d));
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._v21_effect_periodic_event_stream(pgcsms.commands) IS
    'AdjustPeriodicEventStream answered Accepted: the stream''s new interval and values; GetPeriodicEventStream answered: the streams it lists are open in ocpp.periodic_event_streams (source report when new), the others closed.';
