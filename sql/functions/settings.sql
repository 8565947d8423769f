-- PL/pgSQL, so its plan is cached: every message reads a setting or two,
-- and a SQL function would plan its query again on every call (3x the cost).
CREATE OR REPLACE FUNCTION ocpp._setting(key text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN (SELECT s.value FROM pgcsms.settings AS s WHERE s.key = _setting.key);
END
$$;
COMMENT ON FUNCTION ocpp._setting(text) IS 'The value of a setting, NULL if unset.';

CREATE OR REPLACE FUNCTION ocpp.set_setting(key text, value text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CASE key
        WHEN 'unknown_charge_points' THEN
            IF value NOT IN ('accept', 'pending', 'reject') THEN
                RAISE EXCEPTION 'unknown_charge_points must be accept, pending or reject, not %', quote_literal(value)
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        WHEN 'heartbeat_interval', 'pending_retry_interval', 'clock_skew_tolerance', 'ping_interval', 'call_timeout',
             'rfid_scan_max_age', 'resend_window', 'energy_step_max_kw' THEN
            IF value !~ '^\d{1,9}$' THEN
                RAISE EXCEPTION '% must be a whole number of seconds, not %', key, quote_literal(value)
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF key = 'call_timeout' AND value::integer < 1 THEN
                RAISE EXCEPTION 'call_timeout is at least 1 second' USING ERRCODE = 'invalid_parameter_value';
            END IF;
        WHEN 'v201_concurrent_tx' THEN
            IF value NOT IN ('on', 'off') THEN
                RAISE EXCEPTION 'v201_concurrent_tx is on or off, not %', quote_nullable(value)
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        WHEN 'report_time_zone', 'tariff_time_zone' THEN
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names AS z WHERE z.name = value) THEN
                RAISE EXCEPTION '% must be a time zone name such as UTC or Europe/Berlin, not %',
                    key, quote_nullable(value)
                    USING ERRCODE = 'invalid_parameter_value', HINT = 'SELECT name FROM pg_timezone_names lists them';
            END IF;
        ELSE
            IF NOT EXISTS (SELECT FROM pgcsms.settings AS s WHERE s.key = set_setting.key) THEN
                RAISE EXCEPTION 'unknown setting %', quote_literal(key)
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'SELECT key, description FROM ocpp.settings lists them';
            END IF;
    END CASE;
    UPDATE pgcsms.settings AS s SET value = set_setting.value, updated_at = now() WHERE s.key = set_setting.key;
END
$$;
COMMENT ON FUNCTION ocpp.set_setting(text, text) IS
    'Changes a setting (see ocpp.settings): unknown_charge_points accept|pending|reject, heartbeat_interval, pending_retry_interval, clock_skew_tolerance, ping_interval, call_timeout (seconds).';
REVOKE ALL ON FUNCTION ocpp.set_setting(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_setting(text, text) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.setting(key text)
RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT value FROM pgcsms.settings AS s WHERE s.key = setting.key
$$;
COMMENT ON FUNCTION ocpp.setting(text) IS 'The value of a setting (see ocpp.settings), NULL if unset; the proxy reads call_timeout with it.';
REVOKE ALL ON FUNCTION ocpp.setting(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.setting(text) TO pgcsms_proxy, pgcsms_reader;
