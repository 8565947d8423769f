-- OCPP 2.1 priority charging (K21/K22): a driver (or we, UsePriorityCharging)
-- asks the station to charge at full speed whatever the profiles say; the
-- station tells us when it is on or off (NotifyPriorityCharging).

CREATE OR REPLACE FUNCTION ocpp.v21_notify_priority_charging(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    tx bigint;
BEGIN
    UPDATE pgcsms.transactions AS t SET priority_charging = (payload->>'activated')::boolean
     WHERE t.charge_point_id = v21_notify_priority_charging.charge_point_id AND t.remote_id = payload->>'transactionId'
    RETURNING t.id INTO tx;
    INSERT INTO pgcsms.priority_charging
        (charge_point_id, transaction_remote_id, transaction_id, activated, source, unique_id)
    VALUES (charge_point_id, payload->>'transactionId', tx, (payload->>'activated')::boolean, 'station', unique_id);
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v21_notify_priority_charging(text, text, jsonb) IS
    'NotifyPriorityCharging (2.1): kept in ocpp.priority_charging (source station) and, for a transaction we know, its priority_charging flag (ocpp.transaction_details). Answers {}.';

CREATE OR REPLACE FUNCTION ocpp.use_priority_charging(
    charge_point_id text, transaction_id text, activate boolean DEFAULT true, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'UsePriorityCharging', jsonb_build_object(
        'transactionId', transaction_id, 'activate', coalesce(activate, true)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.use_priority_charging(text, text, boolean, timestamptz) IS
    'Queues UsePriorityCharging (OCPP 2.1, K22): priority charging on (activate true) or off for the station''s transaction (transaction_id: its transactionId, ocpp.transactions.remote_id). The answer (Accepted, Rejected, NoProfile) is kept in ocpp.priority_charging (source command); the station confirms with NotifyPriorityCharging. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.use_priority_charging(text, text, boolean, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.use_priority_charging(text, text, boolean, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp._v21_effect_use_priority_charging(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO pgcsms.priority_charging
        (charge_point_id, transaction_remote_id, transaction_id, activated, source, command_id, status)
    SELECT c.charge_point_id, c.payload->>'transactionId',
           (SELECT t.id FROM pgcsms.transactions AS t
             WHERE t.charge_point_id = c.charge_point_id AND t.remote_id = c.payload->>'transactionId'),
           (c.payload->>'activate')::boolean, 'command', c.id, c.response->>'status'
     WHERE c.status IN ('accepted', 'rejected')
$$;
COMMENT ON FUNCTION ocpp._v21_effect_use_priority_charging(pgcsms.commands) IS
    'UsePriorityCharging answered: what was asked and the answer (Accepted, Rejected, NoProfile) in ocpp.priority_charging, source command.';
