CREATE OR REPLACE FUNCTION ocpp.on_heartbeat(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    RETURN jsonb_build_object('currentTime', ocpp._iso(now()));
END
$$;
COMMENT ON FUNCTION ocpp.on_heartbeat(text, text, jsonb) IS 'Heartbeat: answers the current time (last_seen_at is kept by the dispatcher).';
