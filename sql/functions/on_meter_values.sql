CREATE OR REPLACE FUNCTION ocpp.on_meter_values(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM ocpp._meter_values_16(ARRAY[charge_point_id], ARRAY[payload]);
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.on_meter_values(text, text, jsonb) IS
    'MeterValues (1.6): every sampledValue becomes a row of ocpp.meter_values, kept even for a transaction we do not know (ocpp._meter_values_16 for one message).';

-- The rule of 1.6 MeterValues for any number of messages (the group commit's
-- batch, or one): connectorId is both EVSE and connector; transactionId is
-- kept whether or not we know it, and transaction_known says which.
CREATE OR REPLACE FUNCTION ocpp._meter_values_16(charge_point_ids text[], payloads jsonb[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM ocpp._store_meter_value_sets(
        array_agg(m.charge_point_id ORDER BY m.n), array_agg(m.connector ORDER BY m.n),
        array_agg(m.connector ORDER BY m.n), array_agg(m.transaction_id ORDER BY m.n),
        array_agg(m.transaction_id IS NOT NULL AND EXISTS (
                      SELECT FROM pgcsms.transactions AS t
                       WHERE t.id = m.transaction_id AND t.charge_point_id = m.charge_point_id) ORDER BY m.n),
        array_agg(m.payload->'meterValue' ORDER BY m.n), array_agg('MeterValues'::text ORDER BY m.n),
        array_agg('1.6'::text ORDER BY m.n))
      FROM (SELECT u.charge_point_id, u.payload, u.n, (u.payload->>'connectorId')::integer AS connector,
                   (u.payload->>'transactionId')::bigint AS transaction_id
              FROM unnest(charge_point_ids, payloads) WITH ORDINALITY AS u(charge_point_id, payload, n)) AS m;
END
$$;
COMMENT ON FUNCTION ocpp._meter_values_16(text[], jsonb[]) IS
    'OCPP 1.6 MeterValues payloads (element i of each array is one message) stored by ocpp._store_meter_value_sets; ocpp.on_meter_values is one, the group commit a batch.';

-- One row per sampledValue, for every version, for any number of meterValue
-- arrays at once: the group commit stores a whole batch of MeterValues with
-- this one statement, and a single message is a batch of one
-- (ocpp._store_meter_values). PL/pgSQL, so its plan is cached (a SQL function
-- would be planned again on every call). Energy and power are also
-- normalised (Wh, varh, VAh, W, var, VA) so readings in kWh and Wh compare.
-- Both versions say a value without a measurand is
-- Energy.Active.Import.Register and energy without a unit is in Wh. 2.0.1
-- writes a value as a JSON number with unitOfMeasure {unit, multiplier (a
-- power of ten)} and signedMeterValue, and its schema gives the defaults of
-- context (Sample.Periodic), location (Outlet) and multiplier (0), which are
-- stored as such; 1.6 writes strings with unit and format, and its missing
-- fields stay missing. Rows go in the order of the arrays.
CREATE OR REPLACE FUNCTION ocpp._store_meter_value_sets(
    charge_point_ids text[], evses integer[], connectors integer[], transaction_ids bigint[],
    transactions_known boolean[], meter_values jsonb[], sources text[], ocpp_versions text[])
RETURNS void
LANGUAGE plpgsql
-- Planned once: ocpp.parse and ocpp.parse_many, which run every handler, force
-- generic plans (a custom plan of this INSERT, made again on every call, cost
-- 5x a MeterValues; bench/README.md).
AS $$
BEGIN
    INSERT INTO pgcsms.meter_values
        (charge_point_id, evse_id, connector_id, transaction_id, transaction_known, sampled_at, source,
         measurand, phase, unit, context, location, format, value, normalized_value, normalized_unit,
         multiplier, signed_meter_value)
    SELECT r.charge_point_id, r.evse, r.connector, r.transaction_id, r.transaction_known,
           ocpp._ts(mv.value->>'timestamp'), r.source, s.measurand, sv.value->>'phase', s.unit,
           coalesce(sv.value->>'context', CASE WHEN r.v201 THEN 'Sample.Periodic' END),
           coalesce(sv.value->>'location', CASE WHEN r.v201 THEN 'Outlet' END),
           sv.value->>'format', sv.value->>'value',
           -- Digits bounded so the cast cannot overflow or underflow (1e999 is kept, not normalised).
           CASE WHEN n.factor IS NOT NULL AND s.multiplier BETWEEN -24 AND 24
                     AND (sv.value->>'value') ~ '^\s*[-+]?(\d{1,20}\.?\d{0,20}|\.\d{1,20})([eE][-+]?\d{1,2})?\s*$'
                     AND coalesce(sv.value->>'format', 'Raw') = 'Raw'
                THEN (sv.value->>'value')::double precision * n.factor * 10::double precision ^ s.multiplier END,
           CASE WHEN n.factor IS NOT NULL THEN n.base_unit END,
           CASE WHEN r.v201 THEN s.multiplier END, sv.value->'signedMeterValue'
      FROM (SELECT u.*, ocpp._is_v2(u.ocpp_version) AS v201
              FROM unnest(charge_point_ids, evses, connectors, transaction_ids, transactions_known, meter_values,
                          sources, ocpp_versions) WITH ORDINALITY
                   AS u(charge_point_id, evse, connector, transaction_id, transaction_known, meter_value, source,
                        ocpp_version, n)) AS r,
           jsonb_array_elements(r.meter_value) WITH ORDINALITY AS mv(value, n),
           jsonb_array_elements(mv.value->'sampledValue') WITH ORDINALITY AS sv(value, n),
           LATERAL (SELECT coalesce(sv.value->>'measurand', 'Energy.Active.Import.Register') AS measurand) AS m,
           LATERAL (SELECT coalesce(sv.value->>'unit', sv.value->'unitOfMeasure'->>'unit',
                                    CASE WHEN m.measurand LIKE 'Energy.Active.%' THEN 'Wh'
                                         WHEN m.measurand LIKE 'Energy.Reactive.%' THEN 'varh'
                                         WHEN m.measurand LIKE 'Energy.Apparent.%' THEN 'VAh' END) AS unit,
                           CASE WHEN (sv.value->'unitOfMeasure'->>'multiplier') ~ '^-?\d{1,4}$'
                                THEN (sv.value->'unitOfMeasure'->>'multiplier')::integer
                                WHEN sv.value->'unitOfMeasure' ? 'multiplier' THEN NULL
                                ELSE 0 END AS multiplier,
                           m.measurand) AS s,
           LATERAL (SELECT CASE WHEN s.measurand LIKE 'Energy.%' OR s.measurand LIKE 'Power.%' THEN
                        CASE s.unit WHEN 'Wh' THEN 1 WHEN 'kWh' THEN 1000 WHEN 'varh' THEN 1 WHEN 'kvarh' THEN 1000
                                    WHEN 'VAh' THEN 1 WHEN 'kVAh' THEN 1000
                                    WHEN 'W' THEN 1 WHEN 'kW' THEN 1000 WHEN 'var' THEN 1 WHEN 'kvar' THEN 1000
                                    WHEN 'VA' THEN 1 WHEN 'kVA' THEN 1000 END
                    END::double precision AS factor,
                    CASE s.unit WHEN 'kWh' THEN 'Wh' WHEN 'kvarh' THEN 'varh' WHEN 'kVAh' THEN 'VAh' WHEN 'kW' THEN 'W'
                                WHEN 'kvar' THEN 'var' WHEN 'kVA' THEN 'VA' ELSE s.unit END AS base_unit) AS n
     ORDER BY r.n, mv.n, sv.n;
END
$$;
COMMENT ON FUNCTION ocpp._store_meter_value_sets(text[], integer[], integer[], bigint[], boolean[], jsonb[], text[], text[]) IS
    'Stores meterValue arrays of either version (element i of each argument array is one: MeterValues, StopTransaction.transactionData, TransactionEvent.meterValue), one row per sampledValue, in order, with energy and power normalised (kWh to Wh..., times 10^multiplier) and, for 2.0.1, the schema''s defaults filled in. The group commit stores a batch with it; ocpp._store_meter_values is one.';

CREATE OR REPLACE FUNCTION ocpp._store_meter_values(
    charge_point_id text, evse integer, connector integer, transaction_id bigint, transaction_known boolean,
    meter_value jsonb, source text, ocpp_version text DEFAULT '1.6')
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM ocpp._store_meter_value_sets(ARRAY[charge_point_id], ARRAY[evse], ARRAY[connector],
                                         ARRAY[transaction_id], ARRAY[transaction_known], ARRAY[meter_value],
                                         ARRAY[source], ARRAY[ocpp_version]);
END
$$;
COMMENT ON FUNCTION ocpp._store_meter_values(text, integer, integer, bigint, boolean, jsonb, text, text) IS
    'Stores one meterValue array of either version (MeterValues, StopTransaction.transactionData, TransactionEvent.meterValue): ocpp._store_meter_value_sets for one.';
