-- OCPP 2.1 battery swapping (S01-S04): the station reports each battery put
-- in or taken out (BatterySwap), for a swap it authorized itself (S01) or one
-- we started (RequestBatterySwap, S02: its requestId comes back).

CREATE OR REPLACE FUNCTION ocpp.v21_battery_swap(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    INSERT INTO pgcsms.battery_swaps
        (charge_point_id, request_id, command_id, event_type, id_token, id_token_type, evse_id, serial_number, soc,
         soh, production_date, vendor_info, unique_id)
    SELECT v21_battery_swap.charge_point_id, (payload->>'requestId')::integer,
           ocpp._command_of_request(v21_battery_swap.charge_point_id, 'RequestBatterySwap',
                                    (payload->>'requestId')::integer),
           payload->>'eventType', payload->'idToken'->>'idToken', payload->'idToken'->>'type', (b->>'evseId')::integer,
           b->>'serialNumber', (b->>'soC')::numeric, (b->>'soH')::numeric, ocpp._ts(b->>'productionDate'),
           b->>'vendorInfo', v21_battery_swap.unique_id
      FROM jsonb_array_elements(ocpp._array(payload->'batteryData')) AS x(b);
    SELECT '{}'::jsonb
$$;
COMMENT ON FUNCTION ocpp.v21_battery_swap(text, text, jsonb) IS
    'BatterySwap (2.1): each battery of batteryData (slot, serial number, SoC, SoH, production date) into ocpp.battery_swaps with the event (BatteryIn, BatteryOut, BatteryOutTimeout), the idToken and the requestId, linked to our RequestBatterySwap of that requestId when there is one. Answers {}.';

CREATE OR REPLACE FUNCTION ocpp.request_battery_swap(
    charge_point_id text, id_token text, id_token_type text DEFAULT 'Central', request_id integer DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF id_token IS NULL OR length(id_token) > 255 THEN
        RAISE EXCEPTION 'an OCPP 2.1 id token is at most 255 characters, not %', quote_nullable(id_token)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN ocpp.send(charge_point_id, 'RequestBatterySwap', jsonb_build_object(
        'idToken', jsonb_build_object('idToken', id_token, 'type', id_token_type),
        'requestId', coalesce(request_id, ocpp._new_request_id())), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.request_battery_swap(text, text, text, integer, timestamptz) IS
    'Queues RequestBatterySwap (OCPP 2.1, S02) for the user of id_token (id_token_type Central by default): the station answers Accepted or Rejected, then reports the swap with BatterySwap carrying the same requestId (request_id: a new one unless given; ocpp.battery_swaps.command_id). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.request_battery_swap(text, text, text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.request_battery_swap(text, text, text, integer, timestamptz) TO pgcsms_operator;
