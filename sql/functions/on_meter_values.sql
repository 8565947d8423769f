CREATE OR REPLACE FUNCTION ocpp.on_meter_values(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    transaction_id bigint := (payload->>'transactionId')::bigint;
BEGIN
    PERFORM ocpp._store_meter_values(
        charge_point_id, (payload->>'connectorId')::integer, transaction_id,
        transaction_id IS NOT NULL AND EXISTS (
            SELECT FROM pgcsms.transactions AS t
             WHERE t.id = transaction_id AND t.charge_point_id = on_meter_values.charge_point_id),
        payload->'meterValue', 'MeterValues');
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.on_meter_values(text, text, jsonb) IS
    'MeterValues: every sampledValue becomes a row of ocpp.meter_values, kept even for a transaction we do not know.';

-- One row per sampledValue (PL/pgSQL, so its plan is cached; a SQL function
-- would be planned again on every call). Energy and power are also normalised (Wh, varh,
-- W, var) so readings in kWh and Wh compare; OCPP 1.6 says an energy value
-- without a unit is in Wh and a value without a measurand is
-- Energy.Active.Import.Register.
CREATE OR REPLACE FUNCTION ocpp._store_meter_values(
    charge_point_id text, connector integer, transaction_id bigint, transaction_known boolean,
    meter_value jsonb, source text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO pgcsms.meter_values
        (charge_point_id, evse_id, connector_id, transaction_id, transaction_known, sampled_at, source,
         measurand, phase, unit, context, location, format, value, normalized_value, normalized_unit)
    SELECT charge_point_id, connector, connector, transaction_id, transaction_known, ocpp._ts(mv->>'timestamp'),
           source, s.measurand, sv->>'phase', s.unit, sv->>'context', sv->>'location', sv->>'format',
           sv->>'value',
           -- Digits bounded so the cast cannot overflow or underflow (1e999 is kept, not normalised).
           CASE WHEN n.factor IS NOT NULL
                     AND (sv->>'value') ~ '^\s*[-+]?(\d{1,20}\.?\d{0,20}|\.\d{1,20})([eE][-+]?\d{1,2})?\s*$'
                     AND coalesce(sv->>'format', 'Raw') = 'Raw'
                THEN (sv->>'value')::double precision * n.factor END,
           CASE WHEN n.factor IS NOT NULL THEN n.base_unit END
      FROM jsonb_array_elements(meter_value) AS mv,
           jsonb_array_elements(mv->'sampledValue') AS sv,
           LATERAL (SELECT coalesce(sv->>'measurand', 'Energy.Active.Import.Register') AS measurand) AS m,
           LATERAL (SELECT coalesce(sv->>'unit', CASE WHEN m.measurand LIKE 'Energy.Active.%' THEN 'Wh'
                                                      WHEN m.measurand LIKE 'Energy.Reactive.%' THEN 'varh' END) AS unit,
                           m.measurand) AS s,
           LATERAL (SELECT CASE WHEN s.measurand LIKE 'Energy.%' OR s.measurand LIKE 'Power.%' THEN
                        CASE s.unit WHEN 'Wh' THEN 1 WHEN 'kWh' THEN 1000 WHEN 'varh' THEN 1 WHEN 'kvarh' THEN 1000
                                    WHEN 'W' THEN 1 WHEN 'kW' THEN 1000 WHEN 'var' THEN 1 WHEN 'kvar' THEN 1000 END
                    END::double precision AS factor,
                    CASE s.unit WHEN 'kWh' THEN 'Wh' WHEN 'kvarh' THEN 'varh' WHEN 'kW' THEN 'W'
                                WHEN 'kvar' THEN 'var' ELSE s.unit END AS base_unit) AS n;
END
$$;
COMMENT ON FUNCTION ocpp._store_meter_values(text, integer, bigint, boolean, jsonb, text) IS
    'Stores a meterValue array (from MeterValues or StopTransaction.transactionData), one row per sampledValue, with energy and power normalised.';
