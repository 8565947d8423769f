-- The journal and the log of refused handshakes grow with every frame; an
-- operator (or pg_cron) trims them. Business records (transactions, meter
-- values, commands) are never trimmed here.
CREATE OR REPLACE FUNCTION ocpp.prune(older_than interval DEFAULT '90 days')
RETURNS TABLE (relation text, deleted bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff timestamptz := now() - older_than;
    n bigint;
BEGIN
    IF older_than IS NULL OR older_than < interval '1 day' THEN
        RAISE EXCEPTION 'keep at least a day of journal, not %', quote_nullable(older_than)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Counted in frames, as ocpp.message_log shows them: an exchange is two.
    WITH gone AS (DELETE FROM pgcsms.journal AS m WHERE m.at < cutoff RETURNING m.answer_type)
    SELECT coalesce(sum(CASE WHEN g.answer_type IS NULL THEN 1 ELSE 2 END), 0) INTO n FROM gone AS g;
    relation := 'ocpp.message_log'; deleted := n; RETURN NEXT;
    DELETE FROM pgcsms.auth_failures AS a WHERE a.at < cutoff;
    GET DIAGNOSTICS n = ROW_COUNT;
    relation := 'ocpp.auth_failures'; deleted := n; RETURN NEXT;
END
$$;
COMMENT ON FUNCTION ocpp.prune(interval) IS
    'Deletes journal rows (ocpp.message_log) and refused-handshake records (ocpp.auth_failures) older than older_than (at least 1 day; default 90 days) and says how many. Transactions, meter values and commands are kept. Schedule it, e.g. with pg_cron: SELECT cron.schedule(''0 3 * * *'', $$SELECT ocpp.prune()$$).';
REVOKE ALL ON FUNCTION ocpp.prune(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.prune(interval) TO pgcsms_operator;
