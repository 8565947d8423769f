-- OCPP 2.0.1 MeterValues (J01): values of an EVSE outside TransactionEvent
-- (clock-aligned, triggered), stored like every version's
-- (ocpp._store_meter_values). evseId 0 is the station's main meter.
CREATE OR REPLACE FUNCTION ocpp.v201_meter_values(charge_point_id text, unique_id text, payload jsonb, ocpp_version text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    evse integer := (payload->>'evseId')::integer;
    sample jsonb;
    tx pgcsms.transactions;
BEGIN
    -- Each sample belongs to the transaction that was under way on its EVSE
    -- when it was taken: a late one (queued offline) to the one then, not now.
    FOR sample IN SELECT value FROM jsonb_array_elements(payload->'meterValue') LOOP
        tx := NULL;
        IF evse > 0 THEN
            SELECT * INTO tx FROM pgcsms.transactions AS t
             WHERE t.charge_point_id = v201_meter_values.charge_point_id AND t.evse_id = evse
               AND t.started_at <= ocpp._ts(sample->>'timestamp')
               AND (t.stopped_at IS NULL OR t.stopped_at >= ocpp._ts(sample->>'timestamp'))
             ORDER BY t.started_at DESC
             LIMIT 1;
        END IF;
        PERFORM ocpp._store_meter_values(charge_point_id, evse, CASE WHEN evse = 0 THEN 0 ELSE tx.connector_id END,
                                         tx.id, tx.id IS NOT NULL, jsonb_build_array(sample), 'MeterValues', ocpp_version);
        IF tx.id IS NOT NULL AND ocpp._is_v2(tx.ocpp_version) THEN
            PERFORM ocpp._v201_derive_transaction(tx);
        END IF;
    END LOOP;
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v201_meter_values(text, text, jsonb, text) IS
    'OCPP 2.0.1 (and 2.1) MeterValues: every sampledValue becomes a row of ocpp.meter_values (ocpp._store_meter_values), each sample linked to the transaction under way on its EVSE when it was taken (whose energy it updates); evseId 0 is the main meter, in no transaction.';
