CREATE OR REPLACE FUNCTION ocpp.on_stop_transaction(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    -- Past bigint it cannot be ours: an unknown transaction like any other, never an error.
    transaction_id bigint := CASE WHEN (payload->>'transactionId') ~ '^-?\d{1,18}$'
                                  THEN (payload->>'transactionId')::bigint END;
    charger_time timestamptz := ocpp._ts(payload->>'timestamp');
    tx pgcsms.transactions;
    connector integer := 0;
    known boolean := false;
    apply boolean := true;
BEGIN
    SELECT * INTO tx FROM pgcsms.transactions AS t
     WHERE t.id = transaction_id AND t.charge_point_id = on_stop_transaction.charge_point_id
       FOR UPDATE;
    IF NOT FOUND THEN
        -- Chargers replay stops after an outage, some send -1: accept and keep
        -- it for review, never an error the charger would retry forever.
        INSERT INTO pgcsms.anomalies (charge_point_id, kind, unique_id, transaction_id, detail)
        VALUES (charge_point_id, 'unknown_transaction_stop', unique_id, transaction_id, payload);
    ELSE
        known := true;
        connector := tx.connector_id;
        IF tx.stop_unique_id = unique_id THEN
            apply := false;  -- the same message again
        ELSIF tx.stop_unique_id IS NOT NULL THEN
            apply := false;
            INSERT INTO pgcsms.anomalies (charge_point_id, kind, unique_id, transaction_id, detail)
            VALUES (charge_point_id, 'duplicate_stop', unique_id, transaction_id, payload);
        ELSE
            UPDATE pgcsms.transactions AS t
               SET meter_stop = (payload->>'meterStop')::bigint,
                   stopped_at = charger_time,
                   stop_received_at = now(),
                   stop_unique_id = unique_id,
                   stop_reason = coalesce(payload->>'reason', 'Local'),
                   stop_id_tag = payload->>'idTag'
             WHERE t.id = tx.id;
            -- Its TxProfiles end with it: the trigger transactions_end_profiles
            -- (ocpp._end_transaction_profiles), the same for every version.
            PERFORM pg_notify('ocpp_event', jsonb_build_object(
                'event', 'transaction_stopped', 'charge_point_id', charge_point_id, 'transaction_id', tx.id,
                'connector_id', connector, 'energy_wh', (payload->>'meterStop')::bigint - tx.meter_start,
                'reason', coalesce(payload->>'reason', 'Local'))::text);
        END IF;
    END IF;

    IF apply AND payload ? 'transactionData' THEN
        PERFORM ocpp._store_meter_values(charge_point_id, connector, connector, transaction_id, known,
                                         payload->'transactionData', 'StopTransaction');
    END IF;
    PERFORM ocpp._check_clock(charge_point_id, unique_id, charger_time);

    IF payload ? 'idTag' THEN
        RETURN jsonb_build_object('idTagInfo', ocpp._id_tag_info(payload->>'idTag', check_concurrent => false));
    END IF;
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.on_stop_transaction(text, text, jsonb) IS
    'StopTransaction: closes the transaction with meterStop, time, reason and tag, stores its transactionData and drops its TxProfiles. An unknown transactionId is accepted and recorded in ocpp.anomalies; a second stop changes nothing.';
