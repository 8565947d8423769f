CREATE OR REPLACE FUNCTION ocpp.on_meter_values(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    transaction_id bigint := (payload->>'transactionId')::bigint;
    connector integer := (payload->>'connectorId')::integer;
BEGIN
    PERFORM ocpp._store_meter_values(
        charge_point_id, connector, connector, transaction_id,
        transaction_id IS NOT NULL AND EXISTS (
            SELECT FROM pgcsms.transactions AS t
             WHERE t.id = transaction_id AND t.charge_point_id = on_meter_values.charge_point_id),
        payload->'meterValue', 'MeterValues');
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.on_meter_values(text, text, jsonb) IS
    'MeterValues: every sampledValue becomes a row of ocpp.meter_values, kept even for a transaction we do not know.';

-- One row per sampledValue, for every version (PL/pgSQL, so its plan is
-- cached; a SQL function would be planned again on every call). Energy and
-- power are also normalised (Wh, varh, VAh, W, var, VA) so readings in kWh
-- and Wh compare. Both versions say a value without a measurand is
-- Energy.Active.Import.Register and energy without a unit is in Wh. 2.0.1
-- writes a value as a JSON number with unitOfMeasure {unit, multiplier (a
-- power of ten)} and signedMeterValue, and its schema gives the defaults of
-- context (Sample.Periodic), location (Outlet) and multiplier (0), which are
-- stored as such; 1.6 writes strings with unit and format, and its missing
-- fields stay missing.
CREATE OR REPLACE FUNCTION ocpp._store_meter_values(
    charge_point_id text, evse integer, connector integer, transaction_id bigint, transaction_known boolean,
    meter_value jsonb, source text, ocpp_version text DEFAULT '1.6')
RETURNS void
LANGUAGE plpgsql
-- One plan for every call: with the version's defaults as parameters, each
-- custom plan looks cheaper than the generic one, so PostgreSQL planned this
-- INSERT again on every call (5x the cost of a MeterValues; bench/README.md).
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v201 boolean := ocpp._is_v2(ocpp_version);
BEGIN
    INSERT INTO pgcsms.meter_values
        (charge_point_id, evse_id, connector_id, transaction_id, transaction_known, sampled_at, source,
         measurand, phase, unit, context, location, format, value, normalized_value, normalized_unit,
         multiplier, signed_meter_value)
    SELECT charge_point_id, evse, connector, transaction_id, transaction_known, ocpp._ts(mv->>'timestamp'),
           source, s.measurand, sv->>'phase', s.unit,
           coalesce(sv->>'context', CASE WHEN v201 THEN 'Sample.Periodic' END),
           coalesce(sv->>'location', CASE WHEN v201 THEN 'Outlet' END),
           sv->>'format', sv->>'value',
           -- Digits bounded so the cast cannot overflow or underflow (1e999 is kept, not normalised).
           CASE WHEN n.factor IS NOT NULL AND s.multiplier BETWEEN -24 AND 24
                     AND (sv->>'value') ~ '^\s*[-+]?(\d{1,20}\.?\d{0,20}|\.\d{1,20})([eE][-+]?\d{1,2})?\s*$'
                     AND coalesce(sv->>'format', 'Raw') = 'Raw'
                THEN (sv->>'value')::double precision * n.factor * 10::double precision ^ s.multiplier END,
           CASE WHEN n.factor IS NOT NULL THEN n.base_unit END,
           CASE WHEN v201 THEN s.multiplier END, sv->'signedMeterValue'
      FROM jsonb_array_elements(meter_value) AS mv,
           jsonb_array_elements(mv->'sampledValue') AS sv,
           LATERAL (SELECT coalesce(sv->>'measurand', 'Energy.Active.Import.Register') AS measurand) AS m,
           LATERAL (SELECT coalesce(sv->>'unit', sv->'unitOfMeasure'->>'unit',
                                    CASE WHEN m.measurand LIKE 'Energy.Active.%' THEN 'Wh'
                                         WHEN m.measurand LIKE 'Energy.Reactive.%' THEN 'varh'
                                         WHEN m.measurand LIKE 'Energy.Apparent.%' THEN 'VAh' END) AS unit,
                           CASE WHEN (sv->'unitOfMeasure'->>'multiplier') ~ '^-?\d{1,4}$'
                                THEN (sv->'unitOfMeasure'->>'multiplier')::integer
                                WHEN sv->'unitOfMeasure' ? 'multiplier' THEN NULL
                                ELSE 0 END AS multiplier,
                           m.measurand) AS s,
           LATERAL (SELECT CASE WHEN s.measurand LIKE 'Energy.%' OR s.measurand LIKE 'Power.%' THEN
                        CASE s.unit WHEN 'Wh' THEN 1 WHEN 'kWh' THEN 1000 WHEN 'varh' THEN 1 WHEN 'kvarh' THEN 1000
                                    WHEN 'VAh' THEN 1 WHEN 'kVAh' THEN 1000
                                    WHEN 'W' THEN 1 WHEN 'kW' THEN 1000 WHEN 'var' THEN 1 WHEN 'kvar' THEN 1000
                                    WHEN 'VA' THEN 1 WHEN 'kVA' THEN 1000 END
                    END::double precision AS factor,
                    CASE s.unit WHEN 'kWh' THEN 'Wh' WHEN 'kvarh' THEN 'varh' WHEN 'kVAh' THEN 'VAh' WHEN 'kW' THEN 'W'
                                WHEN 'kvar' THEN 'var' WHEN 'kVA' THEN 'VA' ELSE s.unit END AS base_unit) AS n;
END
$$;
COMMENT ON FUNCTION ocpp._store_meter_values(text, integer, integer, bigint, boolean, jsonb, text, text) IS
    'Stores a meterValue array of either version (MeterValues, StopTransaction.transactionData, TransactionEvent.meterValue), one row per sampledValue, with energy and power normalised (kWh to Wh..., times 10^multiplier) and, for 2.0.1, the schema''s defaults filled in.';
