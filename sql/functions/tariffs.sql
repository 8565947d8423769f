-- Tariffs and cost (OCPP 2.1 block I), priced in SQL. A tariff is the OCPP
-- 2.1 TariffType JSON, kept in pgcsms.tariffs (ocpp.tariffs): a default per
-- EVSE (0: the whole station) or one per transaction. A 2.0.1 or 2.1 session
-- is priced from its tariff and what its TransactionEvents told: the
-- register readings (energy), the chargingState history (charging and idle
-- time), power and current readings, and the clock (conditions by time of
-- day, day of week, date). The rules, decided where the TariffType leaves
-- them open (README "Tariffs and cost"):
--   * the tariff of a session: its transaction tariff (from that tariff's
--     valid_from on), else the default of its EVSE, else of the station, in
--     force when the session started;
--   * in each of energy, chargingTime, idleTime and fixedFee the first price
--     whose conditions all hold applies (none: that part costs nothing then);
--     fixedFee once, with its conditions at the start;
--   * charging time: while the latest chargingState is Charging (where the
--     station reported none yet: while energy flows); idle time: the rest;
--   * conditions are read in the station's time zone (ClockCtrlr.TimeZone,
--     else the tariff_time_zone setting), at the middle of each stretch of
--     the session in which nothing they look at changes: the session is cut
--     at every reading, state change, tariff change, time-of-day boundary,
--     and where energy, charging or idle time cross a threshold (energy
--     interpolated between readings);
--   * taxes: by stack level, each level on the amount with the levels below;
--     each part rounded to the currency's minor unit; min/max cost bound the
--     total (min only the final one).
-- 1.6 sessions are not priced.

-- Validation: enough of the TariffType to compute with it, with the path of
-- what is wrong. The proxy checks the full schema before a 2.1 station gets it.

CREATE OR REPLACE FUNCTION ocpp._tariff_problem(path text, problem text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'invalid tariff: % %', path, problem
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'an OCPP 2.1 TariffType, e.g. {"tariffId": "T-1", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0.30}]}}';
END
$$;
COMMENT ON FUNCTION ocpp._tariff_problem(text, text) IS
    'Raises invalid_parameter_value "invalid tariff: <path> <problem>" with a hint showing a minimal TariffType.';

CREATE OR REPLACE FUNCTION ocpp._check_fields(value jsonb, path text, allowed text[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    unknown text;
BEGIN
    IF jsonb_typeof(value) IS DISTINCT FROM 'object' THEN
        PERFORM ocpp._tariff_problem(path, 'must be a JSON object, not ' || coalesce(value::text, 'NULL'));
    END IF;
    SELECT string_agg(k, ', ' ORDER BY k) INTO unknown FROM jsonb_object_keys(value) AS k WHERE k <> ALL (allowed);
    IF unknown IS NOT NULL THEN
        PERFORM ocpp._tariff_problem(path, format('has unknown field(s) %s (known: %s)', unknown,
                                                  array_to_string(allowed, ', ')));
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._check_fields(jsonb, text, text[]) IS
    'Tariff validation: the value at path is a JSON object with no field but the allowed ones.';

CREATE OR REPLACE FUNCTION ocpp._check_number(value jsonb, path text, required boolean DEFAULT false,
                                              whole boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF value IS NULL THEN
        IF required THEN
            PERFORM ocpp._tariff_problem(path, 'is required');
        END IF;
    ELSIF jsonb_typeof(value) <> 'number' THEN
        PERFORM ocpp._tariff_problem(path, 'must be a number, not ' || value::text);
    ELSIF whole AND value::text::numeric <> trunc(value::text::numeric) THEN
        PERFORM ocpp._tariff_problem(path, 'must be a whole number (seconds), not ' || value::text);
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._check_number(jsonb, text, boolean, boolean) IS
    'Tariff validation: the value at path, if present (or required), is a JSON number (whole: an integer).';

CREATE OR REPLACE FUNCTION ocpp._check_tax_rates(value jsonb, path text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    rate jsonb;
    n bigint;
BEGIN
    IF value IS NULL THEN
        RETURN;
    END IF;
    IF jsonb_typeof(value) <> 'array' OR jsonb_array_length(value) NOT BETWEEN 1 AND 5 THEN
        PERFORM ocpp._tariff_problem(path, 'must be an array of 1 to 5 TaxRateType');
    END IF;
    FOR rate, n IN SELECT r, i - 1 FROM jsonb_array_elements(value) WITH ORDINALITY AS x (r, i) LOOP
        PERFORM ocpp._check_fields(rate, format('%s[%s]', path, n), ARRAY['type', 'tax', 'stack', 'customData']);
        IF jsonb_typeof(rate->'type') IS DISTINCT FROM 'string' THEN
            PERFORM ocpp._tariff_problem(format('%s[%s].type', path, n), 'is required (a name, e.g. "VAT")');
        END IF;
        PERFORM ocpp._check_number(rate->'tax', format('%s[%s].tax', path, n), required => true);
        PERFORM ocpp._check_number(rate->'stack', format('%s[%s].stack', path, n), whole => true);
        IF (rate->>'stack')::numeric < 0 THEN
            PERFORM ocpp._tariff_problem(format('%s[%s].stack', path, n), 'must be 0 or more');
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION ocpp._check_tax_rates(jsonb, text) IS
    'Tariff validation: taxRates, if present, is an array of 1 to 5 TaxRateType (type, tax percentage, stack level >= 0).';

CREATE OR REPLACE FUNCTION ocpp._check_conditions(value jsonb, path text, fixed boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    field text;
    day jsonb;
BEGIN
    IF value IS NULL THEN
        RETURN;
    END IF;
    PERFORM ocpp._check_fields(value, path, ARRAY['startTimeOfDay', 'endTimeOfDay', 'dayOfWeek', 'validFromDate',
        'validToDate', 'evseKind', 'customData'] || CASE WHEN fixed THEN ARRAY['paymentBrand', 'paymentRecognition']
        ELSE ARRAY['minEnergy', 'maxEnergy', 'minCurrent', 'maxCurrent', 'minPower', 'maxPower', 'minTime', 'maxTime',
                   'minChargingTime', 'maxChargingTime', 'minIdleTime', 'maxIdleTime'] END);
    FOREACH field IN ARRAY ARRAY['startTimeOfDay', 'endTimeOfDay'] LOOP
        IF value ? field AND (jsonb_typeof(value->field) <> 'string'
                              OR value->>field !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$') THEN
            PERFORM ocpp._tariff_problem(path || '.' || field, 'must be a time of day "HH:MM" (24 h), not ' || (value->field)::text);
        END IF;
    END LOOP;
    FOREACH field IN ARRAY ARRAY['validFromDate', 'validToDate'] LOOP
        CONTINUE WHEN NOT value ? field;
        BEGIN
            IF jsonb_typeof(value->field) <> 'string'
               OR value->>field !~ '^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' THEN
                RAISE invalid_datetime_format;
            END IF;
            PERFORM (value->>field)::date;  -- 2024-02-30 is no day
        EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
            PERFORM ocpp._tariff_problem(path || '.' || field, 'must be a date "YYYY-MM-DD", not ' || (value->field)::text);
        END;
    END LOOP;
    IF value ? 'dayOfWeek' THEN
        IF jsonb_typeof(value->'dayOfWeek') <> 'array' OR jsonb_array_length(value->'dayOfWeek') NOT BETWEEN 1 AND 7 THEN
            PERFORM ocpp._tariff_problem(path || '.dayOfWeek', 'must be an array of 1 to 7 days');
        END IF;
        FOR day IN SELECT d FROM jsonb_array_elements(value->'dayOfWeek') AS d LOOP
            IF day #>> '{}' IS NULL OR jsonb_typeof(day) <> 'string'
               OR day #>> '{}' <> ALL (ARRAY['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']) THEN
                PERFORM ocpp._tariff_problem(path || '.dayOfWeek', 'has ' || day::text || ', not a day (Monday ... Sunday)');
            END IF;
        END LOOP;
    END IF;
    IF value ? 'evseKind' AND value->>'evseKind' IS DISTINCT FROM 'AC' AND value->>'evseKind' IS DISTINCT FROM 'DC' THEN
        PERFORM ocpp._tariff_problem(path || '.evseKind', 'must be AC or DC, not ' || (value->'evseKind')::text);
    END IF;
    FOREACH field IN ARRAY ARRAY['minEnergy', 'maxEnergy', 'minCurrent', 'maxCurrent', 'minPower', 'maxPower'] LOOP
        PERFORM ocpp._check_number(value->field, path || '.' || field);
    END LOOP;
    FOREACH field IN ARRAY ARRAY['minTime', 'maxTime', 'minChargingTime', 'maxChargingTime', 'minIdleTime', 'maxIdleTime'] LOOP
        PERFORM ocpp._check_number(value->field, path || '.' || field, whole => true);
    END LOOP;
    FOREACH field IN ARRAY ARRAY['paymentBrand', 'paymentRecognition'] LOOP
        IF value ? field AND jsonb_typeof(value->field) <> 'string' THEN
            PERFORM ocpp._tariff_problem(path || '.' || field, 'must be a string');
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION ocpp._check_conditions(jsonb, text, boolean) IS
    'Tariff validation: conditions, if present, are a TariffConditionsType (fixed: TariffConditionsFixedType) with times "HH:MM", dates "YYYY-MM-DD", days Monday..Sunday, evseKind AC | DC, numbers for thresholds, whole seconds for durations.';

CREATE OR REPLACE FUNCTION ocpp._check_tariff(tariff jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    part text;
    price_field text;
    price jsonb;
    n bigint;
    bound text;
BEGIN
    PERFORM ocpp._check_fields(tariff, 'tariff', ARRAY['tariffId', 'description', 'currency', 'energy', 'validFrom',
        'chargingTime', 'idleTime', 'fixedFee', 'reservationTime', 'reservationFixed', 'minCost', 'maxCost', 'customData']);
    IF jsonb_typeof(tariff->'tariffId') IS DISTINCT FROM 'string' OR length(tariff->>'tariffId') NOT BETWEEN 1 AND 60 THEN
        PERFORM ocpp._tariff_problem('tariff.tariffId', 'is required: a string of 1 to 60 characters');
    END IF;
    IF jsonb_typeof(tariff->'currency') IS DISTINCT FROM 'string' OR tariff->>'currency' !~ '^[A-Z]{3}$' THEN
        PERFORM ocpp._tariff_problem('tariff.currency', 'is required: an ISO 4217 code such as EUR, not '
                                                        || coalesce((tariff->'currency')::text, 'missing'));
    END IF;
    IF tariff ? 'validFrom' THEN
        BEGIN
            IF jsonb_typeof(tariff->'validFrom') <> 'string' OR ocpp._ts(tariff->>'validFrom') IS NULL THEN
                RAISE invalid_datetime_format;
            END IF;
        EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR invalid_text_representation THEN
            PERFORM ocpp._tariff_problem('tariff.validFrom', 'must be a date-time such as 2025-01-01T00:00:00Z, not '
                                                             || (tariff->'validFrom')::text);
        END;
    END IF;
    IF NOT (tariff ?| ARRAY['energy', 'chargingTime', 'idleTime', 'fixedFee']) THEN
        PERFORM ocpp._tariff_problem('tariff', 'has no price: give energy, chargingTime, idleTime or fixedFee');
    END IF;
    IF tariff ? 'description' AND (jsonb_typeof(tariff->'description') <> 'array'
                                   OR jsonb_array_length(tariff->'description') NOT BETWEEN 1 AND 10
                                   OR EXISTS (SELECT FROM jsonb_array_elements(tariff->'description') AS d
                                               WHERE jsonb_typeof(d->'content') IS DISTINCT FROM 'string'
                                                  OR jsonb_typeof(d->'format') IS DISTINCT FROM 'string')) THEN
        PERFORM ocpp._tariff_problem('tariff.description', 'must be an array of 1 to 10 MessageContentType ({"format": "UTF8", "content": "..."})');
    END IF;
    FOREACH part IN ARRAY ARRAY['energy', 'chargingTime', 'idleTime', 'fixedFee', 'reservationTime', 'reservationFixed'] LOOP
        CONTINUE WHEN NOT tariff ? part;
        price_field := CASE part WHEN 'energy' THEN 'priceKwh' WHEN 'fixedFee' THEN 'priceFixed'
                                 WHEN 'reservationFixed' THEN 'priceFixed' ELSE 'priceMinute' END;
        PERFORM ocpp._check_fields(tariff->part, 'tariff.' || part, ARRAY['prices', 'taxRates', 'customData']);
        IF jsonb_typeof(tariff->part->'prices') IS DISTINCT FROM 'array' OR jsonb_array_length(tariff->part->'prices') = 0 THEN
            PERFORM ocpp._tariff_problem(format('tariff.%s.prices', part),
                                         format('is required: an array of at least one {"%s": ...}', price_field));
        END IF;
        FOR price, n IN SELECT p, i - 1 FROM jsonb_array_elements(tariff->part->'prices') WITH ORDINALITY AS x (p, i) LOOP
            PERFORM ocpp._check_fields(price, format('tariff.%s.prices[%s]', part, n),
                                       ARRAY[price_field, 'conditions', 'customData']);
            PERFORM ocpp._check_number(price->price_field, format('tariff.%s.prices[%s].%s', part, n, price_field),
                                       required => true);
            PERFORM ocpp._check_conditions(price->'conditions', format('tariff.%s.prices[%s].conditions', part, n),
                                           fixed => price_field = 'priceFixed');
        END LOOP;
        PERFORM ocpp._check_tax_rates(tariff->part->'taxRates', format('tariff.%s.taxRates', part));
    END LOOP;
    FOREACH bound IN ARRAY ARRAY['minCost', 'maxCost'] LOOP
        CONTINUE WHEN NOT tariff ? bound;
        PERFORM ocpp._check_fields(tariff->bound, 'tariff.' || bound, ARRAY['exclTax', 'inclTax', 'taxRates', 'customData']);
        IF NOT (tariff->bound ?| ARRAY['exclTax', 'inclTax']) THEN
            PERFORM ocpp._tariff_problem('tariff.' || bound, 'needs exclTax or inclTax');
        END IF;
        PERFORM ocpp._check_number(tariff->bound->'exclTax', format('tariff.%s.exclTax', bound));
        PERFORM ocpp._check_number(tariff->bound->'inclTax', format('tariff.%s.inclTax', bound));
        PERFORM ocpp._check_tax_rates(tariff->bound->'taxRates', format('tariff.%s.taxRates', bound));
    END LOOP;
    RETURN tariff;
END
$$;
COMMENT ON FUNCTION ocpp._check_tariff(jsonb) IS
    'Returns the tariff if it is an OCPP 2.1 TariffType pgcsms can price with: tariffId (1..60 characters), currency (ISO 4217), at least one of energy, chargingTime, idleTime, fixedFee, each with prices (priceKwh, priceMinute, priceFixed: numbers) and valid conditions and taxRates, minCost/maxCost with exclTax or inclTax, validFrom a date-time, no unknown field; else raises invalid_parameter_value naming the path.';

-- Arithmetic.

CREATE OR REPLACE FUNCTION ocpp._currency_decimals(currency text)
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- ISO 4217 minor units; 2 for every other currency.
    SELECT CASE
        WHEN currency IN ('BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF', 'UGX', 'UYI', 'VND',
                          'VUV', 'XAF', 'XOF', 'XPF') THEN 0
        WHEN currency IN ('BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND') THEN 3
        WHEN currency IN ('CLF', 'UYW') THEN 4
        ELSE 2
    END
$$;
COMMENT ON FUNCTION ocpp._currency_decimals(text) IS
    'The minor unit of an ISO 4217 currency: the decimals a cost is rounded to (JPY 0, KWD 3, EUR 2, ...; 2 when unknown).';

CREATE OR REPLACE FUNCTION ocpp._with_tax(amount numeric, tax_rates jsonb)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    factor numeric;
BEGIN
    -- TaxRateType.stack: 0 on the net price, 1 on the net price with the
    -- stack 0 taxes, ...; rates of one stack level add up.
    FOR factor IN
        SELECT 1 + sum((r->>'tax')::numeric) / 100
          FROM jsonb_array_elements(ocpp._array(tax_rates)) AS r
         GROUP BY coalesce((r->>'stack')::integer, 0)
    LOOP
        amount := amount * factor;
    END LOOP;
    RETURN amount;
END
$$;
COMMENT ON FUNCTION ocpp._with_tax(numeric, jsonb) IS
    'An amount excluding tax with the taxRates (TaxRateType array) added: each stack level in turn, on the amount with the levels below; rates of one level add up. No rates: the amount.';

-- Conditions.

CREATE OR REPLACE FUNCTION ocpp._time_of_day_holds(start_time text, end_time text, at time)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    -- endTimeOfDay 00:00: until the end of the day; end before start: over midnight.
    SELECT CASE
        WHEN start_time IS NULL AND end_time IS NULL THEN true
        WHEN coalesce(end_time, '00:00') = '00:00' THEN at >= coalesce(start_time, '00:00')::time
        WHEN coalesce(start_time, '00:00')::time < end_time::time
            THEN at >= coalesce(start_time, '00:00')::time AND at < end_time::time
        WHEN coalesce(start_time, '00:00')::time > end_time::time
            THEN at >= start_time::time OR at < end_time::time
        ELSE true
    END
$$;
COMMENT ON FUNCTION ocpp._time_of_day_holds(text, text, time) IS
    'Whether a local time of day lies in [startTimeOfDay, endTimeOfDay): end 00:00 means the end of the day, an end before the start wraps over midnight, equal ones mean all day; either missing: from 00:00, until the end of the day.';

CREATE OR REPLACE FUNCTION ocpp._tariff_conditions_hold(
    conditions jsonb, local_at timestamp, evse_kind text DEFAULT NULL, energy_wh numeric DEFAULT NULL,
    power_w numeric DEFAULT NULL, current_a numeric DEFAULT NULL, elapsed_s numeric DEFAULT NULL,
    charging_s numeric DEFAULT NULL, idle_s numeric DEFAULT NULL, payment_brand text DEFAULT NULL,
    payment_recognition text DEFAULT NULL)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    -- All that are set must hold (logical AND); min inclusive, max exclusive.
    -- A condition on something not known (no power reading, ...) does not hold.
    SELECT coalesce(conditions IS NULL OR (
            ocpp._time_of_day_holds(conditions->>'startTimeOfDay', conditions->>'endTimeOfDay', local_at::time)
        AND (NOT conditions ? 'dayOfWeek' OR conditions->'dayOfWeek' ? (ARRAY['Monday', 'Tuesday', 'Wednesday',
                 'Thursday', 'Friday', 'Saturday', 'Sunday'])[extract(isodow FROM local_at)::integer])
        AND (NOT conditions ? 'validFromDate' OR local_at::date >= (conditions->>'validFromDate')::date)
        AND (NOT conditions ? 'validToDate' OR local_at::date < (conditions->>'validToDate')::date)
        AND (NOT conditions ? 'evseKind' OR conditions->>'evseKind' = evse_kind)
        AND (NOT conditions ? 'minEnergy' OR energy_wh >= (conditions->>'minEnergy')::numeric)
        AND (NOT conditions ? 'maxEnergy' OR energy_wh < (conditions->>'maxEnergy')::numeric)
        AND (NOT conditions ? 'minPower' OR power_w >= (conditions->>'minPower')::numeric)
        AND (NOT conditions ? 'maxPower' OR power_w < (conditions->>'maxPower')::numeric)
        AND (NOT conditions ? 'minCurrent' OR current_a >= (conditions->>'minCurrent')::numeric)
        AND (NOT conditions ? 'maxCurrent' OR current_a < (conditions->>'maxCurrent')::numeric)
        AND (NOT conditions ? 'minTime' OR elapsed_s >= (conditions->>'minTime')::numeric)
        AND (NOT conditions ? 'maxTime' OR elapsed_s < (conditions->>'maxTime')::numeric)
        AND (NOT conditions ? 'minChargingTime' OR charging_s >= (conditions->>'minChargingTime')::numeric)
        AND (NOT conditions ? 'maxChargingTime' OR charging_s < (conditions->>'maxChargingTime')::numeric)
        AND (NOT conditions ? 'minIdleTime' OR idle_s >= (conditions->>'minIdleTime')::numeric)
        AND (NOT conditions ? 'maxIdleTime' OR idle_s < (conditions->>'maxIdleTime')::numeric)
        AND (NOT conditions ? 'paymentBrand' OR upper(conditions->>'paymentBrand') = upper(payment_brand))
        AND (NOT conditions ? 'paymentRecognition'
             OR upper(conditions->>'paymentRecognition') = upper(payment_recognition))), false)
$$;
COMMENT ON FUNCTION ocpp._tariff_conditions_hold(jsonb, timestamp, text, numeric, numeric, numeric, numeric, numeric, numeric, text, text) IS
    'Whether a TariffConditionsType (or TariffConditionsFixedType) holds at a moment of a session: local_at (the station''s local time) against time of day, day of week and dates; evse_kind (AC | DC); energy_wh used so far, power_w and current_a (sum of phases) at the time, elapsed_s since the start, charging_s and idle_s so far against the min (inclusive) and max (exclusive) thresholds; payment_brand and payment_recognition (the idToken''s additionalInfo). All set conditions must hold; one about something unknown does not.';

-- What a session is priced in.

CREATE OR REPLACE FUNCTION ocpp._tariff_time_zone(charge_point_id text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    zone text;
BEGIN
    FOR zone IN
        SELECT z FROM (
            SELECT 1 AS rank, (SELECT a.value
                                 FROM pgcsms.device_model_variables AS v
                                 JOIN pgcsms.device_model_attributes AS a
                                   ON (a.charge_point_id, a.variable_id) = (v.charge_point_id, v.id)
                                WHERE v.charge_point_id = _tariff_time_zone.charge_point_id
                                  AND upper(v.component) = 'CLOCKCTRLR' AND upper(v.variable) = 'TIMEZONE'
                                  AND a.attribute_type = 'Actual'
                                ORDER BY a.updated_at DESC LIMIT 1) AS z
            UNION ALL SELECT 2, ocpp._setting('tariff_time_zone')) AS c
         WHERE z IS NOT NULL ORDER BY rank
    LOOP
        -- A zone name (Europe/Berlin, UTC), not a POSIX offset such as
        -- UTC+1, which PostgreSQL would read west of Greenwich.
        CONTINUE WHEN zone !~ '^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$';
        BEGIN
            PERFORM now() AT TIME ZONE zone;
            RETURN zone;
        EXCEPTION WHEN invalid_parameter_value OR feature_not_supported THEN
            CONTINUE;
        END;
    END LOOP;
    RETURN 'UTC';
END
$$;
COMMENT ON FUNCTION ocpp._tariff_time_zone(text) IS
    'The time zone a station''s tariff conditions are read in: its ClockCtrlr.TimeZone (device model, Actual), else the tariff_time_zone setting, else UTC; a name PostgreSQL does not know is skipped.';

CREATE OR REPLACE FUNCTION ocpp._evse_kind(charge_point_id text, evse_id integer)
RETURNS text
LANGUAGE sql STABLE
AS $$
    -- EVSE.SupplyPhases 0 means DC; else the connector types of the EVSE.
    SELECT coalesce(
        (SELECT CASE WHEN a.value ~ '^\s*0\s*$' THEN 'DC' WHEN a.value ~ '^\s*[123]\s*$' THEN 'AC' END
           FROM pgcsms.device_model_variables AS v
           JOIN pgcsms.device_model_attributes AS a ON (a.charge_point_id, a.variable_id) = (v.charge_point_id, v.id)
          WHERE v.charge_point_id = _evse_kind.charge_point_id AND v.evse_id = _evse_kind.evse_id
            AND v.connector_id IS NULL AND upper(v.component) = 'EVSE' AND upper(v.variable) = 'SUPPLYPHASES'
            AND a.attribute_type = 'Actual'
          LIMIT 1),
        (SELECT CASE WHEN bool_and(k.kind = 'DC') THEN 'DC' WHEN bool_and(k.kind = 'AC') THEN 'AC' END
           FROM (SELECT CASE WHEN a.value IN ('cCCS1', 'cCCS2', 'cG105', 'cChaoJi', 'cUltraChaoJi', 'cGBT-DC', 'cMCS',
                                              'cLECCS') THEN 'DC'
                             WHEN a.value ~ '^(cType1|cType2|sType2|sType3|s309|sBS1361|sCEE|Other1Ph|Other3Ph|cGBT-AC)'
                                 THEN 'AC' END AS kind
                   FROM pgcsms.device_model_variables AS v
                   JOIN pgcsms.device_model_attributes AS a
                     ON (a.charge_point_id, a.variable_id) = (v.charge_point_id, v.id)
                  WHERE v.charge_point_id = _evse_kind.charge_point_id AND v.evse_id = _evse_kind.evse_id
                    AND upper(v.component) = 'CONNECTOR' AND upper(v.variable) = 'CONNECTORTYPE'
                    AND a.attribute_type = 'Actual') AS k))
$$;
COMMENT ON FUNCTION ocpp._evse_kind(text, integer) IS
    'AC or DC for an EVSE of a station, from its device model: EVSE.SupplyPhases (0: DC), else the ConnectorType of its connectors (CCS, CHAdeMO, ChaoJi, GB/T DC, MCS: DC; Type 1/2/3, IEC 60309, domestic sockets, GB/T AC: AC); NULL when not known (then an evseKind condition does not hold).';

-- The tariffs of a session in the order they take effect: the default in
-- force at its start (of its EVSE, else of the station), then its transaction
-- tariffs, each from its valid_from (at the earliest the start).
CREATE OR REPLACE FUNCTION ocpp._tariff_plan(tx pgcsms.transactions)
RETURNS TABLE (from_at timestamptz, tariff_id text, currency text, tariff jsonb)
LANGUAGE sql STABLE
AS $$
    (SELECT tx.started_at, d.tariff_id, d.currency, d.tariff
       FROM pgcsms.tariffs AS d
      WHERE d.charge_point_id = tx.charge_point_id AND d.transaction_id IS NULL
        AND (d.evse_id = 0 OR d.evse_id = tx.evse_id)
        AND d.valid_from <= tx.started_at AND (d.cleared_at IS NULL OR d.cleared_at > tx.started_at)
      ORDER BY d.evse_id DESC, d.valid_from DESC, d.id DESC
      LIMIT 1)
    UNION ALL
    (SELECT greatest(x.valid_from, tx.started_at), x.tariff_id, x.currency, x.tariff
       FROM pgcsms.tariffs AS x
      WHERE x.transaction_id = tx.id AND x.charge_point_id = tx.charge_point_id AND x.cleared_at IS NULL
      ORDER BY x.valid_from, x.id)
$$;
COMMENT ON FUNCTION ocpp._tariff_plan(pgcsms.transactions) IS
    'The tariffs that price a session, in the order they take effect (from_at): the default tariff in force when it started (its EVSE''s, else the station''s, evse_id 0), then its transaction tariffs (ocpp.change_transaction_tariff), each from its valid_from, at the earliest the start. No row: no tariff applies.';

-- A session cut where nothing a tariff looks at changes within a stretch:
-- bounds are the cuts; the rest are the session's readings and states, in
-- time order. Energy is interpolated between readings (cumulative, so never
-- falling); a state, power or current holds until the next one.
CREATE OR REPLACE FUNCTION ocpp._cost_segments(
    bounds timestamptz[], energy_at timestamptz[], energy_wh numeric[], state_at timestamptz[],
    state_charging boolean[], power_at timestamptz[], power_w numeric[], current_at timestamptz[],
    current_a numeric[])
RETURNS TABLE (starts_at timestamptz, ends_at timestamptz, seconds numeric, charging boolean,
               energy_before numeric, energy_wh numeric, charging_before numeric, idle_before numeric,
               power_w numeric, current_a numeric)
LANGUAGE sql IMMUTABLE
AS $$
    WITH points AS (
        -- src orders what happens at one instant: readings and states first, the cut last.
        SELECT t, 1 AS src, n, wh, NULL::boolean AS chg, NULL::numeric AS w, NULL::numeric AS a
          FROM unnest(energy_at, energy_wh) WITH ORDINALITY AS e (t, wh, n)
        UNION ALL
        SELECT t, 2, n, NULL, c, NULL, NULL FROM unnest(state_at, state_charging) WITH ORDINALITY AS s (t, c, n)
        UNION ALL
        SELECT t, 3, n, NULL, NULL, w, NULL FROM unnest(power_at, power_w) WITH ORDINALITY AS p (t, w, n)
        UNION ALL
        SELECT t, 4, n, NULL, NULL, NULL, a FROM unnest(current_at, current_a) WITH ORDINALITY AS i (t, a, n)
        UNION ALL
        SELECT DISTINCT t, 9, 0::bigint, NULL::numeric, NULL::boolean, NULL::numeric, NULL::numeric
          FROM unnest(bounds) AS b (t) WHERE t IS NOT NULL),
    carried AS (
        SELECT p.*,
               max(p.wh) OVER w_upto AS wh_before, max(p.t) FILTER (WHERE p.wh IS NOT NULL) OVER w_upto AS t_before,
               min(p.wh) OVER w_from AS wh_after, min(p.t) FILTER (WHERE p.wh IS NOT NULL) OVER w_from AS t_after,
               count(p.chg) OVER w_run AS chg_group, count(p.w) OVER w_run AS w_group, count(p.a) OVER w_run AS a_group
          FROM points AS p
        WINDOW w_upto AS (ORDER BY p.t RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
               -- Descending, so that the frame grows (min has no inverse: a
               -- shrinking frame would be computed again for every row).
               w_from AS (ORDER BY p.t DESC RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
               w_run AS (ORDER BY p.t, p.src, p.n ROWS UNBOUNDED PRECEDING)),
    at_cuts AS (
        SELECT c.t, c.src,
               CASE WHEN c.wh_before IS NULL THEN 0
                    WHEN c.wh_after IS NULL OR c.t_after = c.t_before THEN c.wh_before
                    ELSE c.wh_before + (c.wh_after - c.wh_before)
                         * (extract(epoch FROM c.t - c.t_before) / extract(epoch FROM c.t_after - c.t_before))
               END AS wh,
               c.t_before IS NOT NULL AND c.t_after IS NOT NULL AS metered,
               first_value(c.chg) OVER (PARTITION BY c.chg_group ORDER BY c.t, c.src, c.n) AS chg,
               first_value(c.w) OVER (PARTITION BY c.w_group ORDER BY c.t, c.src, c.n) AS w,
               first_value(c.a) OVER (PARTITION BY c.a_group ORDER BY c.t, c.src, c.n) AS a
          FROM carried AS c),
    stretches AS (
        SELECT k.t AS starts_at, lead(k.t) OVER o AS ends_at, k.wh, lead(k.wh) OVER o AS wh_end,
               k.metered AND lead(k.metered) OVER o AS metered, k.chg, k.w, k.a
          FROM at_cuts AS k WHERE k.src = 9
        WINDOW o AS (ORDER BY k.t)),
    typed AS (
        SELECT s.*, extract(epoch FROM s.ends_at - s.starts_at) AS secs,
               -- Where no chargingState was reported yet: charging while energy flows.
               coalesce(s.chg, s.wh_end > s.wh) AS is_charging
          FROM stretches AS s WHERE s.ends_at IS NOT NULL)
    SELECT y.starts_at, y.ends_at, y.secs, y.is_charging, y.wh, y.wh_end - y.wh,
           coalesce(sum(y.secs) FILTER (WHERE y.is_charging) OVER done, 0),
           coalesce(sum(y.secs) FILTER (WHERE NOT y.is_charging) OVER done, 0),
           -- Measured power, else the average between the readings around.
           coalesce(y.w, CASE WHEN y.metered AND y.secs > 0 THEN (y.wh_end - y.wh) * 3600 / y.secs END), y.a
      FROM typed AS y
    WINDOW done AS (ORDER BY y.starts_at ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
     ORDER BY y.starts_at
$$;
COMMENT ON FUNCTION ocpp._cost_segments(timestamptz[], timestamptz[], numeric[], timestamptz[], boolean[], timestamptz[], numeric[], timestamptz[], numeric[]) IS
    'A session cut at the given bounds into stretches, each with its duration, whether it is charging (the latest chargingState is Charging; before any: energy flows), the energy used before it and in it (cumulative readings, interpolated), the charging and idle seconds before it, the power (latest Power.Active.Import reading, else the average between the energy readings around) and the current (latest reading) at its start.';

-- A minCost or maxCost (PriceType) with both halves: one given only with or
-- only without tax gets the other from its own taxRates, else from the
-- session's ratio of the two.
CREATE OR REPLACE FUNCTION ocpp._cost_bound(bound jsonb, excl numeric, incl numeric,
                                            OUT excl_tax numeric, OUT incl_tax numeric)
LANGUAGE sql IMMUTABLE
AS $$
    SELECT b.e,
           coalesce((bound->>'inclTax')::numeric,
                    CASE WHEN bound ? 'taxRates' THEN ocpp._with_tax(b.e, bound->'taxRates')
                         WHEN excl > 0 THEN b.e * incl / excl
                         ELSE b.e END)
      FROM (SELECT coalesce((bound->>'exclTax')::numeric,
                            CASE WHEN bound ? 'taxRates' THEN (bound->>'inclTax')::numeric / ocpp._with_tax(1, bound->'taxRates')
                                 WHEN incl > 0 THEN (bound->>'inclTax')::numeric * excl / incl
                                 ELSE (bound->>'inclTax')::numeric END) AS e) AS b
$$;
COMMENT ON FUNCTION ocpp._cost_bound(jsonb, numeric, numeric) IS
    'A tariff''s minCost or maxCost (PriceType) as excl_tax and incl_tax: the half it leaves out from its own taxRates, else in the ratio of the session''s cost without (excl) and with (incl) tax, else equal.';

CREATE OR REPLACE FUNCTION ocpp._transaction_cost(transaction_id bigint, final boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    tx pgcsms.transactions;
    t0 timestamptz;
    t1 timestamptz;
    zone text;
    kind text;
    brand text;
    recognition text;
    plan_from timestamptz[];
    plan_id text[];
    plan_tariff jsonb[];
    currency text;
    decimals integer;
    e_at timestamptz[];
    e_wh numeric[];
    s_at timestamptz[];
    s_chg boolean[];
    p_at timestamptz[];
    p_w numeric[];
    a_at timestamptz[];
    a_a numeric[];
    cuts timestamptz[];
    crossings timestamptz[];
    parts jsonb;
    periods jsonb;
    usage jsonb;
    first_tariff jsonb;
    last_tariff jsonb;
    fixed_excl numeric := 0;
    fixed_incl numeric := 0;
    excl numeric;
    incl numeric;
    cost_type text := 'NormalCost';
    bound_excl numeric;
    bound_incl numeric;
BEGIN
    SELECT * INTO tx FROM pgcsms.transactions AS t WHERE t.id = _transaction_cost.transaction_id;
    IF NOT FOUND OR tx.ocpp_version = '1.6' OR tx.started_at IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(p.from_at ORDER BY p.from_at, p.n), array_agg(p.tariff_id ORDER BY p.from_at, p.n),
           array_agg(p.tariff ORDER BY p.from_at, p.n), (array_agg(p.currency ORDER BY p.from_at DESC, p.n DESC))[1]
      INTO plan_from, plan_id, plan_tariff, currency
      FROM ocpp._tariff_plan(tx) WITH ORDINALITY AS p (from_at, tariff_id, currency, tariff, n);
    IF plan_from IS NULL THEN
        RETURN NULL;
    END IF;
    decimals := ocpp._currency_decimals(currency);

    -- The session so far: until its end, or its latest event or reading.
    t0 := tx.started_at;
    t1 := greatest(t0, coalesce(tx.stopped_at, greatest(
        (SELECT max(e.charger_at) FROM pgcsms.transaction_events AS e
          WHERE e.charge_point_id = tx.charge_point_id AND e.remote_id = tx.remote_id),
        (SELECT max(v.sampled_at) FROM pgcsms.meter_values AS v
          WHERE v.transaction_id = tx.id AND v.charge_point_id = tx.charge_point_id AND v.transaction_known)), t0));
    zone := ocpp._tariff_time_zone(tx.charge_point_id);
    kind := ocpp._evse_kind(tx.charge_point_id, tx.evse_id);
    SELECT (SELECT i->>'additionalIdToken' FROM jsonb_array_elements(ocpp._array(e.payload#>'{idToken,additionalInfo}')) AS i
             WHERE i->>'type' = 'PaymentBrand' LIMIT 1),
           (SELECT i->>'additionalIdToken' FROM jsonb_array_elements(ocpp._array(e.payload#>'{idToken,additionalInfo}')) AS i
             WHERE i->>'type' = 'PaymentRecognition' LIMIT 1)
      INTO brand, recognition
      FROM pgcsms.transaction_events AS e
     WHERE e.charge_point_id = tx.charge_point_id AND e.remote_id = tx.remote_id
       AND jsonb_typeof(e.payload#>'{idToken,additionalInfo}') = 'array'
     ORDER BY e.seq_no LIMIT 1;

    -- Energy used, reading by reading: the rule of energy_wh (ocpp._energy_register), unrounded.
    SELECT array_agg(greatest(t0, least(t1, c.sampled_at)) ORDER BY c.sampled_at, c.reading_id),
           array_agg(c.used ORDER BY c.sampled_at, c.reading_id)
      INTO e_at, e_wh
      FROM ocpp._energy_register(tx.charge_point_id, tx.id) AS c;

    SELECT array_agg(greatest(t0, least(t1, e.charger_at)) ORDER BY e.charger_at, e.seq_no),
           array_agg(e.charging_state = 'Charging' ORDER BY e.charger_at, e.seq_no)
      INTO s_at, s_chg
      FROM pgcsms.transaction_events AS e
     WHERE e.charge_point_id = tx.charge_point_id AND e.remote_id = tx.remote_id AND e.charging_state IS NOT NULL;

    -- Power (W) and current (A, the sum of the phases) at the outlet.
    WITH sampled AS (
        SELECT v.sampled_at, v.measurand, v.phase,
               CASE WHEN v.measurand LIKE 'Power.%' THEN v.normalized_value::numeric
                    WHEN v.value ~ '^\s*[-+]?(\d{1,20}\.?\d{0,20}|\.\d{1,20})\s*$' AND coalesce(v.multiplier, 0) BETWEEN -24 AND 24
                        THEN v.value::numeric * 10::numeric ^ coalesce(v.multiplier, 0) END AS value
          FROM pgcsms.meter_values AS v
         WHERE v.transaction_id = tx.id AND v.charge_point_id = tx.charge_point_id AND v.transaction_known
           AND v.measurand IN ('Power.Active.Import', 'Current.Import') AND v.location = 'Outlet'),
    totals AS (
        SELECT s.sampled_at, s.measurand,
               CASE WHEN s.measurand = 'Power.Active.Import'
                    THEN coalesce(max(s.value) FILTER (WHERE s.phase IS NULL), sum(s.value) FILTER (WHERE s.phase IS NOT NULL))
                    ELSE coalesce(sum(s.value) FILTER (WHERE s.phase IS NOT NULL), max(s.value) FILTER (WHERE s.phase IS NULL))
               END AS value
          FROM sampled AS s WHERE s.value IS NOT NULL
         GROUP BY s.sampled_at, s.measurand)
    SELECT array_agg(greatest(t0, least(t1, x.sampled_at)) ORDER BY x.sampled_at) FILTER (WHERE x.measurand = 'Power.Active.Import'),
           array_agg(x.value ORDER BY x.sampled_at) FILTER (WHERE x.measurand = 'Power.Active.Import'),
           array_agg(greatest(t0, least(t1, x.sampled_at)) ORDER BY x.sampled_at) FILTER (WHERE x.measurand = 'Current.Import'),
           array_agg(x.value ORDER BY x.sampled_at) FILTER (WHERE x.measurand = 'Current.Import')
      INTO p_at, p_w, a_at, a_a
      FROM totals AS x;

    -- Cuts: the ends, every reading and state, every tariff change, the
    -- local times of day the tariffs name (and midnight) on each day of the
    -- session, and the durations they name.
    WITH conditions AS (
        SELECT p->'conditions' AS c
          FROM unnest(plan_tariff) AS t (tariff),
               unnest(ARRAY['energy', 'chargingTime', 'idleTime']) AS part,
               jsonb_array_elements(ocpp._array(t.tariff->part->'prices')) AS p
         WHERE jsonb_typeof(p->'conditions') = 'object'),
    times AS (
        SELECT '00:00' AS hhmm
        UNION SELECT c->>'startTimeOfDay' FROM conditions WHERE c ? 'startTimeOfDay'
        UNION SELECT c->>'endTimeOfDay' FROM conditions WHERE c ? 'endTimeOfDay'),
    days AS (
        SELECT d::date AS day FROM generate_series(((t0 AT TIME ZONE zone)::date - 1)::timestamp,
                                                  ((t1 AT TIME ZONE zone)::date + 1)::timestamp, interval '1 day') AS d)
    SELECT array_agg(x.t) INTO cuts
      FROM (SELECT t0 AS t UNION SELECT t1
            UNION SELECT unnest(e_at) UNION SELECT unnest(s_at) UNION SELECT unnest(p_at) UNION SELECT unnest(a_at)
            UNION SELECT unnest(plan_from)
            UNION SELECT (d.day + h.hhmm::time) AT TIME ZONE zone FROM days AS d CROSS JOIN times AS h
            UNION SELECT t0 + make_interval(secs => (c->>k)::double precision)
                    FROM conditions CROSS JOIN unnest(ARRAY['minTime', 'maxTime']) AS k WHERE c ? k) AS x
     WHERE x.t BETWEEN t0 AND t1;

    -- Where energy, charging time or idle time cross a threshold inside a stretch.
    WITH conditions AS (
        SELECT p->'conditions' AS c
          FROM unnest(plan_tariff) AS t (tariff),
               unnest(ARRAY['energy', 'chargingTime', 'idleTime']) AS part,
               jsonb_array_elements(ocpp._array(t.tariff->part->'prices')) AS p
         WHERE jsonb_typeof(p->'conditions') = 'object'),
    thresholds AS (
        SELECT DISTINCT CASE WHEN k LIKE '%Energy' THEN 'energy' WHEN k LIKE '%ChargingTime' THEN 'charging'
                             ELSE 'idle' END AS measure, (c->>k)::numeric AS value
          FROM conditions CROSS JOIN unnest(ARRAY['minEnergy', 'maxEnergy', 'minChargingTime', 'maxChargingTime',
                                                  'minIdleTime', 'maxIdleTime']) AS k
         WHERE c ? k)
    SELECT array_agg(x.t) INTO crossings
      FROM (SELECT s.starts_at + make_interval(secs => (
                       CASE h.measure
                           WHEN 'energy' THEN (h.value - s.energy_before) / s.energy_wh * s.seconds
                           WHEN 'charging' THEN h.value - s.charging_before
                           ELSE h.value - s.idle_before END)::double precision) AS t
              FROM ocpp._cost_segments(cuts, e_at, e_wh, s_at, s_chg, p_at, p_w, a_at, a_a) AS s
              JOIN thresholds AS h
                ON CASE h.measure
                       WHEN 'energy' THEN h.value > s.energy_before AND h.value < s.energy_before + s.energy_wh
                       WHEN 'charging' THEN s.charging AND h.value > s.charging_before
                                            AND h.value < s.charging_before + s.seconds
                       ELSE NOT s.charging AND h.value > s.idle_before AND h.value < s.idle_before + s.seconds
                   END) AS x;

    -- Each stretch priced by the tariff in force at its middle, with the
    -- first price of each part whose conditions hold there.
    WITH prices AS MATERIALIZED (
        SELECT t.n AS tariff_n, q.part, x.n, (x.p->>q.field)::numeric AS price, x.p->'conditions' AS conditions
          FROM unnest(plan_tariff) WITH ORDINALITY AS t (tariff, n)
         CROSS JOIN (VALUES ('energy', 'priceKwh'), ('chargingTime', 'priceMinute'), ('idleTime', 'priceMinute'))
                    AS q (part, field)
         CROSS JOIN LATERAL jsonb_array_elements(ocpp._array(t.tariff->q.part->'prices')) WITH ORDINALITY AS x (p, n)),
    stretches AS (
        SELECT s.*, s.starts_at + (s.ends_at - s.starts_at) / 2 AS middle,
               (SELECT max(x.n) FROM unnest(plan_from) WITH ORDINALITY AS x (f, n)
                 WHERE x.f <= s.starts_at + (s.ends_at - s.starts_at) / 2) AS tariff_n
          FROM ocpp._cost_segments(cuts || coalesce(crossings, '{}'), e_at, e_wh, s_at, s_chg, p_at, p_w, a_at, a_a) AS s
         WHERE s.seconds > 0),
    priced AS (
        SELECT s.*, plan_id[s.tariff_n] AS tariff_id,
               ep.n AS energy_n, ep.price AS energy_price, tp.n AS time_n, tp.price AS time_price
          FROM stretches AS s
          CROSS JOIN LATERAL (
                SELECT s.middle AT TIME ZONE zone AS local_at, s.energy_before + s.energy_wh / 2 AS used,
                       extract(epoch FROM s.middle - t0) AS elapsed,
                       s.charging_before + CASE WHEN s.charging THEN s.seconds / 2 ELSE 0 END AS charged,
                       s.idle_before + CASE WHEN s.charging THEN 0 ELSE s.seconds / 2 END AS idled) AS m
          LEFT JOIN LATERAL (
                SELECT x.n, x.price FROM prices AS x
                 WHERE x.tariff_n = s.tariff_n AND x.part = 'energy'
                   AND ocpp._tariff_conditions_hold(x.conditions, m.local_at, kind, m.used, s.power_w, s.current_a,
                                                    m.elapsed, m.charged, m.idled)
                 ORDER BY x.n LIMIT 1) AS ep ON true
          LEFT JOIN LATERAL (
                SELECT x.n, x.price FROM prices AS x
                 WHERE x.tariff_n = s.tariff_n AND x.part = CASE WHEN s.charging THEN 'chargingTime' ELSE 'idleTime' END
                   AND ocpp._tariff_conditions_hold(x.conditions, m.local_at, kind, m.used, s.power_w, s.current_a,
                                                    m.elapsed, m.charged, m.idled)
                 ORDER BY x.n LIMIT 1) AS tp ON true),
    amounts AS (
        SELECT p.*, coalesce(p.energy_price * p.energy_wh / 1000, 0) AS energy_excl,
               coalesce(p.time_price * p.seconds / 60, 0) AS time_excl,
               -- A new charging period wherever the tariff or a price applied changes.
               row_number() OVER (ORDER BY p.starts_at)
               - row_number() OVER (PARTITION BY p.tariff_n, p.energy_n, p.charging, p.time_n ORDER BY p.starts_at) AS island
          FROM priced AS p),
    -- Taxes by tariff and part: each tariff has its own rates.
    taxed AS (
        SELECT b.charging, b.energy_excl, b.time_excl,
               ocpp._with_tax(b.energy_excl, plan_tariff[b.tariff_n]->'energy'->'taxRates') AS energy_incl,
               ocpp._with_tax(b.time_excl, plan_tariff[b.tariff_n]->(CASE WHEN b.charging THEN 'chargingTime'
                                                                           ELSE 'idleTime' END)->'taxRates') AS time_incl
          FROM (SELECT a.tariff_n, a.charging, sum(a.energy_excl) AS energy_excl, sum(a.time_excl) AS time_excl
                  FROM amounts AS a GROUP BY a.tariff_n, a.charging) AS b),
    charging_periods AS (
        SELECT min(a.starts_at) AS starts_at, min(a.tariff_id) AS tariff_id, sum(a.energy_wh) AS energy_wh,
               sum(a.seconds) FILTER (WHERE a.charging) AS charging_s, sum(a.seconds) FILTER (WHERE NOT a.charging) AS idle_s
          FROM amounts AS a
         GROUP BY a.island, a.tariff_n, a.energy_n, a.charging, a.time_n)
    SELECT (SELECT jsonb_build_object(
                       'energy', jsonb_build_array(coalesce(sum(x.energy_excl), 0), coalesce(sum(x.energy_incl), 0)),
                       'chargingTime', jsonb_build_array(coalesce(sum(x.time_excl) FILTER (WHERE x.charging), 0),
                                                         coalesce(sum(x.time_incl) FILTER (WHERE x.charging), 0)),
                       'idleTime', jsonb_build_array(coalesce(sum(x.time_excl) FILTER (WHERE NOT x.charging), 0),
                                                     coalesce(sum(x.time_incl) FILTER (WHERE NOT x.charging), 0)))
              FROM taxed AS x),
           (SELECT jsonb_build_object(
                       'energy', trim_scale(round(coalesce(sum(a.energy_wh), 0), 3)),
                       'chargingTime', round(extract(epoch FROM t1 - t0))::bigint,
                       'idleTime', round(coalesce(sum(a.seconds) FILTER (WHERE NOT a.charging), 0))::bigint)
              FROM amounts AS a),
           (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                        'startPeriod', ocpp._iso(r.starts_at), 'tariffId', r.tariff_id,
                        'dimensions', (SELECT jsonb_agg(jsonb_build_object('type', d.type, 'volume', d.volume))
                                         FROM (VALUES ('Energy', trim_scale(round(r.energy_wh, 3))),
                                                      ('ChargingTime', trim_scale(round(r.charging_s, 3))),
                                                      ('IdleTIme', trim_scale(round(r.idle_s, 3)))) AS d (type, volume)
                                        WHERE d.volume > 0)))
                        ORDER BY r.starts_at)
              FROM charging_periods AS r)
      INTO parts, usage, periods;

    -- The fixed fee: once, by the tariff and conditions at the start.
    first_tariff := plan_tariff[1];
    IF plan_from[1] > t0 THEN
        first_tariff := NULL;
    END IF;
    SELECT coalesce((x.p->>'priceFixed')::numeric, 0) INTO fixed_excl
      FROM jsonb_array_elements(ocpp._array(first_tariff->'fixedFee'->'prices')) WITH ORDINALITY AS x (p, n)
     WHERE ocpp._tariff_conditions_hold(x.p->'conditions', t0 AT TIME ZONE zone, kind, payment_brand => brand,
                                        payment_recognition => recognition)
     ORDER BY x.n LIMIT 1;
    fixed_excl := coalesce(fixed_excl, 0);
    fixed_incl := ocpp._with_tax(fixed_excl, first_tariff->'fixedFee'->'taxRates');

    -- Each part rounded to the currency, the total their sum.
    parts := jsonb_build_object(
        'fixed', jsonb_build_object('exclTax', round(fixed_excl, decimals), 'inclTax', round(fixed_incl, decimals)),
        'energy', jsonb_build_object('exclTax', round((parts->'energy'->>0)::numeric, decimals),
                                     'inclTax', round((parts->'energy'->>1)::numeric, decimals)),
        'chargingTime', jsonb_build_object('exclTax', round((parts->'chargingTime'->>0)::numeric, decimals),
                                           'inclTax', round((parts->'chargingTime'->>1)::numeric, decimals)),
        'idleTime', jsonb_build_object('exclTax', round((parts->'idleTime'->>0)::numeric, decimals),
                                       'inclTax', round((parts->'idleTime'->>1)::numeric, decimals)));
    SELECT sum((v->>'exclTax')::numeric), sum((v->>'inclTax')::numeric) INTO excl, incl FROM jsonb_each(parts) AS p (k, v);
    -- Only the parts some tariff of the session prices.
    parts := (SELECT jsonb_object_agg(p.k, p.v) FROM jsonb_each(parts) AS p (k, v)
               WHERE EXISTS (SELECT FROM unnest(plan_tariff) AS t (tariff)
                              WHERE t.tariff ? CASE p.k WHEN 'fixed' THEN 'fixedFee' ELSE p.k END));

    -- Bounds of the tariff in force at the end: the minimum for a final
    -- cost, the maximum always; compared without tax where the bound gives
    -- exclTax, else with.
    last_tariff := plan_tariff[array_length(plan_tariff, 1)];
    IF final AND last_tariff ? 'minCost' THEN
        SELECT b.excl_tax, b.incl_tax INTO bound_excl, bound_incl FROM ocpp._cost_bound(last_tariff->'minCost', excl, incl) AS b;
        IF (CASE WHEN last_tariff->'minCost' ? 'exclTax' THEN excl < bound_excl ELSE incl < bound_incl END) THEN
            excl := round(bound_excl, decimals);
            incl := round(bound_incl, decimals);
            cost_type := 'MinCost';
        END IF;
    END IF;
    IF last_tariff ? 'maxCost' THEN
        SELECT b.excl_tax, b.incl_tax INTO bound_excl, bound_incl FROM ocpp._cost_bound(last_tariff->'maxCost', excl, incl) AS b;
        IF (CASE WHEN last_tariff->'maxCost' ? 'exclTax' THEN excl > bound_excl ELSE incl > bound_incl END) THEN
            excl := round(bound_excl, decimals);
            incl := round(bound_incl, decimals);
            cost_type := 'MaxCost';
        END IF;
    END IF;

    RETURN jsonb_build_object(
        'totalCost', incl,
        'currency', currency,
        'tariffId', plan_id[array_length(plan_id, 1)],
        'final', final,
        'asOf', ocpp._iso(t1),
        'costDetails', jsonb_strip_nulls(jsonb_build_object(
            'chargingPeriods', periods,
            'totalCost', parts || jsonb_build_object(
                'currency', currency, 'typeOfCost', cost_type,
                'total', jsonb_build_object('exclTax', excl, 'inclTax', incl)),
            'totalUsage', usage)));
END
$$;
COMMENT ON FUNCTION ocpp._transaction_cost(bigint, boolean) IS
    'The cost of a 2.0.1 or 2.1 session (transaction_id: ocpp.transactions.id) from its tariffs (ocpp._tariff_plan), as of its end or its latest event or reading: {"totalCost": including taxes (what TransactionEventResponse.totalCost and CostUpdated carry), "currency", "tariffId" (in force at the end), "final", "asOf", "costDetails": an OCPP 2.1 CostDetailsType (chargingPeriods with tariffId and Energy Wh / ChargingTime s / IdleTIme s, totalCost per part and total with and without tax and typeOfCost NormalCost | MinCost | MaxCost, totalUsage: energy Wh, chargingTime = the whole session in s as the schema defines it, idleTime s)}. final: the tariff''s minCost applies too. NULL: no tariff applies, or a 1.6 session. Rules: README "Tariffs and cost".';

-- Recording and answering.

CREATE OR REPLACE FUNCTION ocpp._record_transaction_cost(transaction_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    cost jsonb;
    before pgcsms.transactions;
    tx pgcsms.transactions;
BEGIN
    SELECT * INTO before FROM pgcsms.transactions AS t
     WHERE t.id = _record_transaction_cost.transaction_id AND t.stopped_at IS NOT NULL
       FOR UPDATE;
    cost := ocpp._transaction_cost(transaction_id, final => before.id IS NOT NULL);
    IF before.id IS NULL THEN
        RETURN cost;
    END IF;
    UPDATE pgcsms.transactions AS t
       SET total_cost = (cost->>'totalCost')::numeric, currency = cost->>'currency', cost_details = cost->'costDetails'
     WHERE t.id = before.id
    RETURNING t.* INTO tx;
    IF tx.total_cost IS DISTINCT FROM before.total_cost OR tx.currency IS DISTINCT FROM before.currency THEN
        PERFORM pg_notify('ocpp_event', jsonb_build_object(
            'event', 'transaction_cost', 'charge_point_id', tx.charge_point_id, 'transaction_id', tx.id,
            'remote_id', tx.remote_id, 'total_cost', tx.total_cost, 'currency', tx.currency)::text);
    END IF;
    RETURN cost;
END
$$;
COMMENT ON FUNCTION ocpp._record_transaction_cost(bigint) IS
    'For an ended session: its final cost (ocpp._transaction_cost) stored in ocpp.transactions (total_cost, currency, cost_details; NULL without a tariff), with NOTIFY ocpp_event {"event":"transaction_cost",...} when it changed. Returns the cost; an open session''s is returned, not stored.';

CREATE OR REPLACE FUNCTION ocpp._transaction_event_cost(transaction_id bigint, event_type text, ocpp_version text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    ended boolean;
    cost jsonb;
BEGIN
    -- Most stations have no tariff: one index probe, not a pricing, for each of their events.
    SELECT t.stopped_at IS NOT NULL INTO ended FROM pgcsms.transactions AS t
     WHERE t.id = _transaction_event_cost.transaction_id
       AND EXISTS (SELECT FROM pgcsms.tariffs AS f WHERE f.charge_point_id = t.charge_point_id);
    IF NOT FOUND THEN
        RETURN '{}';
    END IF;
    -- An ended session (whichever of its events came last) has its final
    -- cost stored; a 2.0.1 station hears the running cost by CostUpdated.
    IF ended THEN
        cost := ocpp._record_transaction_cost(transaction_id);
    ELSIF ocpp_version = '2.1' AND event_type = 'Updated' THEN
        cost := ocpp._transaction_cost(transaction_id, final => false);
    ELSIF ocpp_version = '2.0.1' THEN
        PERFORM ocpp._cost_update(transaction_id);
    END IF;
    -- totalCost answers Updated (2.1: the running cost) and Ended (the final one).
    IF cost IS NULL OR NOT (event_type = 'Ended' OR ocpp_version = '2.1' AND event_type = 'Updated') THEN
        RETURN '{}';
    END IF;
    RETURN jsonb_build_object('totalCost', cost->'totalCost');
END
$$;
COMMENT ON FUNCTION ocpp._transaction_event_cost(bigint, text, text) IS
    'For the TransactionEvent handlers, once the event''s readings are stored and the transaction derived: the fields to merge into the TransactionEventResponse ({"totalCost": ...} for Ended in 2.0.1 and 2.1, and for Updated in 2.1 (the running cost); else {}), after storing the final cost of an ended session (ocpp._record_transaction_cost) and, for an open 2.0.1 one, queueing the running cost as CostUpdated where the station supports it (ocpp._cost_update). No tariff: {}.';

-- 2.0.1: the running cost by CostUpdated (I02), where the station shows cost.
CREATE OR REPLACE FUNCTION ocpp._shows_cost(charge_point_id text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    -- TariffCostCtrlr.Enabled decides, else Available; instance Cost before none.
    SELECT lower(a.value) = 'true'
      FROM pgcsms.device_model_variables AS v
      JOIN pgcsms.device_model_attributes AS a ON (a.charge_point_id, a.variable_id) = (v.charge_point_id, v.id)
     WHERE v.charge_point_id = _shows_cost.charge_point_id AND upper(v.component) = 'TARIFFCOSTCTRLR'
       AND upper(v.variable) IN ('ENABLED', 'AVAILABLE') AND upper(coalesce(v.variable_instance, 'COST')) = 'COST'
       AND a.attribute_type = 'Actual' AND a.value IS NOT NULL
     ORDER BY upper(v.variable) = 'ENABLED' DESC, v.variable_instance IS NULL
     LIMIT 1
$$;
COMMENT ON FUNCTION ocpp._shows_cost(text) IS
    'Whether a station shows cost, from its device model: TariffCostCtrlr.Enabled (instance Cost, or none) is true; not reported, TariffCostCtrlr.Available is. NULL or false: it does not, or we do not know (then no CostUpdated).';

CREATE OR REPLACE FUNCTION ocpp._cost_update(transaction_id bigint)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    tx pgcsms.transactions;
    cost jsonb;
    total numeric;
    command bigint;
BEGIN
    SELECT * INTO tx FROM pgcsms.transactions AS t WHERE t.id = _cost_update.transaction_id;
    IF NOT FOUND OR tx.stopped_at IS NOT NULL OR tx.remote_id IS NULL
       OR ocpp._charge_point_version(tx.charge_point_id) <> '2.0.1'
       OR NOT coalesce(ocpp._shows_cost(tx.charge_point_id), false) THEN
        RETURN NULL;
    END IF;
    cost := ocpp._transaction_cost(tx.id, final => false);
    total := (cost->>'totalCost')::numeric;
    IF total IS NULL THEN
        RETURN NULL;
    END IF;
    -- One CostUpdated waiting per transaction, with the latest cost.
    UPDATE pgcsms.commands AS c SET payload = jsonb_set(c.payload, '{totalCost}', to_jsonb(total))
     WHERE c.charge_point_id = tx.charge_point_id AND c.action = 'CostUpdated' AND c.status = 'queued'
       AND c.payload->>'transactionId' = tx.remote_id
    RETURNING c.id INTO command;
    IF FOUND THEN
        RETURN command;
    END IF;
    -- The station already shows this cost.
    IF (SELECT (c.payload->>'totalCost')::numeric FROM pgcsms.commands AS c
         WHERE c.charge_point_id = tx.charge_point_id AND c.action = 'CostUpdated'
           AND c.payload->>'transactionId' = tx.remote_id AND c.status IN ('sent', 'accepted', 'completed')
         ORDER BY c.id DESC LIMIT 1) = total THEN
        RETURN NULL;
    END IF;
    RETURN ocpp.cost_updated(tx.charge_point_id, tx.remote_id, total);
END
$$;
COMMENT ON FUNCTION ocpp._cost_update(bigint) IS
    'For an open session of a 2.0.1 station that shows cost (ocpp._shows_cost) with a tariff: queues CostUpdated with its running cost (ocpp.cost_updated), or updates the one still queued for it; nothing when the station was last sent the same cost. Returns the command id, or NULL.';

-- The SQL API.

CREATE OR REPLACE FUNCTION ocpp.transaction_cost(transaction_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp._transaction_cost(transaction_id,
                                  final => (SELECT t.stopped_at IS NOT NULL FROM pgcsms.transactions AS t
                                             WHERE t.id = transaction_cost.transaction_id))
$$;
COMMENT ON FUNCTION ocpp.transaction_cost(bigint) IS
    'The cost of a session (transaction_id: ocpp.transactions.id) now: the running cost of an open one, the final cost of an ended one, from the tariffs in ocpp.tariffs: {"totalCost" (including taxes), "currency", "tariffId", "final", "asOf", "costDetails" (OCPP 2.1 CostDetailsType: per part with and without tax, charging periods, usage)}. NULL: no tariff applies (or an OCPP 1.6 session). README "Tariffs and cost".';
REVOKE ALL ON FUNCTION ocpp.transaction_cost(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.transaction_cost(bigint) TO pgcsms_reader;

CREATE OR REPLACE FUNCTION ocpp._known_charge_point(charge_point_id text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pgcsms.charge_points AS cp WHERE cp.id = _known_charge_point.charge_point_id) THEN
        RAISE EXCEPTION 'unknown charge point %', quote_nullable(charge_point_id)
            USING ERRCODE = 'no_data_found',
                  HINT = 'SELECT id FROM ocpp.charge_points lists them; ocpp.add_charge_point registers one';
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._known_charge_point(text) IS 'Raises no_data_found unless the charge point is registered.';

-- One tariffId, one tariff, at a station (a 2.1 station refuses a tariffId
-- it already holds: DuplicateTariffId).
CREATE OR REPLACE FUNCTION ocpp._check_tariff_id(charge_point_id text, tariff jsonb)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    IF EXISTS (SELECT FROM pgcsms.tariffs AS x
                WHERE x.charge_point_id = _check_tariff_id.charge_point_id
                  AND x.tariff_id = _check_tariff_id.tariff->>'tariffId'
                  AND x.cleared_at IS NULL AND x.tariff <> _check_tariff_id.tariff) THEN
        RAISE EXCEPTION 'tariffId % already names another tariff at %', quote_literal(tariff->>'tariffId'), charge_point_id
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'give the changed tariff a new tariffId, or clear the old one first (ocpp.clear_tariffs)';
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._check_tariff_id(text, jsonb) IS
    'Raises invalid_parameter_value when the tariff''s tariffId already names a different tariff (not cleared) at the station.';

CREATE OR REPLACE FUNCTION ocpp.set_default_tariff(charge_point_id text, evse_id integer, tariff jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    checked jsonb := ocpp._check_tariff(tariff);
    stored pgcsms.tariffs;
BEGIN
    PERFORM ocpp._known_charge_point(charge_point_id);
    IF evse_id IS NULL OR evse_id < 0 THEN
        RAISE EXCEPTION 'evse_id is 0 (the whole station) or the id of an EVSE, not %', coalesce(evse_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM ocpp._check_tariff_id(charge_point_id, checked);
    -- Set again: the same tariff (sent again to a 2.1 station that does not hold it).
    SELECT * INTO stored FROM pgcsms.tariffs AS x
     WHERE x.charge_point_id = set_default_tariff.charge_point_id AND x.evse_id = set_default_tariff.evse_id
       AND x.transaction_id IS NULL AND x.cleared_at IS NULL AND x.tariff_id = checked->>'tariffId'
       FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO pgcsms.tariffs (charge_point_id, evse_id, tariff_id, currency, tariff, valid_from)
        VALUES (charge_point_id, evse_id, checked->>'tariffId', checked->>'currency', checked,
                coalesce(ocpp._ts(checked->>'validFrom'), now()))
        RETURNING * INTO stored;
    END IF;
    IF ocpp._charge_point_version(charge_point_id) = '2.1' AND stored.at_station IS NOT TRUE
       AND NOT EXISTS (SELECT FROM pgcsms.commands AS c
                        WHERE c.charge_point_id = stored.charge_point_id AND c.id = stored.command_id
                          AND c.status IN ('queued', 'sent')) THEN
        PERFORM ocpp._v21_send_tariff(stored);
    END IF;
    RETURN stored.id;
END
$$;
COMMENT ON FUNCTION ocpp.set_default_tariff(text, integer, jsonb) IS
    'Sets the default tariff (an OCPP 2.1 TariffType, checked: ocpp._check_tariff) of one EVSE of a station (evse_id; 0: the whole station), in force from its validFrom (absent: now) for the sessions that start from then on, until a newer one is or it is cleared (ocpp.clear_tariffs). A 2.1 station gets it by SetDefaultTariff (queued: sent when it is connected), its answer in ocpp.tariffs.station_status; stations of other versions are priced by pgcsms alone. Setting the same tariff again changes nothing (a 2.1 station that does not hold it gets it again); a tariffId naming another tariff at the station is refused. Returns its id in ocpp.tariffs.';
REVOKE ALL ON FUNCTION ocpp.set_default_tariff(text, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_default_tariff(text, integer, jsonb) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.change_transaction_tariff(charge_point_id text, transaction_id text, tariff jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    checked jsonb := ocpp._check_tariff(tariff);
    tx pgcsms.transactions;
    current_currency text;
    stored pgcsms.tariffs;
BEGIN
    PERFORM ocpp._known_charge_point(charge_point_id);
    SELECT * INTO tx FROM pgcsms.transactions AS t
     WHERE t.charge_point_id = change_transaction_tariff.charge_point_id
       AND t.remote_id = change_transaction_tariff.transaction_id AND t.ocpp_version <> '1.6'
       FOR UPDATE;
    IF NOT FOUND OR tx.stopped_at IS NOT NULL THEN
        RAISE EXCEPTION 'no open session % at %', quote_nullable(transaction_id), charge_point_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'the transaction_id of an open 2.0.1 or 2.1 session in ocpp.transactions (stopped_at IS NULL)';
    END IF;
    SELECT (array_agg(p.currency ORDER BY p.from_at DESC))[1] INTO current_currency FROM ocpp._tariff_plan(tx) AS p;
    IF current_currency <> checked->>'currency' THEN
        RAISE EXCEPTION 'session % at % is priced in %, not %', transaction_id, charge_point_id, current_currency,
                        checked->>'currency'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'a session keeps its currency (NoCurrencyChange)';
    END IF;
    PERFORM ocpp._check_tariff_id(charge_point_id, checked);
    INSERT INTO pgcsms.tariffs (charge_point_id, evse_id, transaction_id, tariff_id, currency, tariff, valid_from)
    VALUES (charge_point_id, coalesce(tx.evse_id, 0), tx.id, checked->>'tariffId', checked->>'currency', checked,
            coalesce(ocpp._ts(checked->>'validFrom'), now()))
    RETURNING * INTO stored;
    IF ocpp._charge_point_version(charge_point_id) = '2.1' THEN
        PERFORM ocpp._v21_send_tariff(stored);
    END IF;
    RETURN stored.id;
END
$$;
COMMENT ON FUNCTION ocpp.change_transaction_tariff(text, text, jsonb) IS
    'Changes the tariff (an OCPP 2.1 TariffType) of an open 2.0.1 or 2.1 session (transaction_id: the station''s, ocpp.transactions.transaction_id) from its validFrom (absent: now) on; the part of the session before stays priced as it was. Its currency must be the session''s. A 2.1 station gets it by ChangeTransactionTariff, its answer in ocpp.tariffs.station_status. Returns its id in ocpp.tariffs.';
REVOKE ALL ON FUNCTION ocpp.change_transaction_tariff(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.change_transaction_tariff(text, text, jsonb) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.clear_tariffs(charge_point_id text, tariff_ids text[] DEFAULT NULL,
                                              evse_id integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids text[] := nullif(tariff_ids, '{}');
    cleared bigint[];
    command bigint;
BEGIN
    PERFORM ocpp._known_charge_point(charge_point_id);
    WITH ended AS (
        UPDATE pgcsms.tariffs AS t SET cleared_at = now(), updated_at = now()
         WHERE t.charge_point_id = clear_tariffs.charge_point_id AND t.transaction_id IS NULL AND t.cleared_at IS NULL
           AND (ids IS NULL OR t.tariff_id = ANY (ids))
           AND (clear_tariffs.evse_id IS NULL OR t.evse_id = clear_tariffs.evse_id)
        RETURNING t.id)
    SELECT array_agg(e.id) INTO cleared FROM ended AS e;
    IF ocpp._charge_point_version(charge_point_id) = '2.1' THEN
        command := ocpp._v21_clear_tariffs(charge_point_id, ids, evse_id);
        UPDATE pgcsms.tariffs AS t SET clear_command_id = command
         WHERE t.charge_point_id = clear_tariffs.charge_point_id AND t.id = ANY (cleared);
    END IF;
    RETURN coalesce(cardinality(cleared), 0);
END
$$;
COMMENT ON FUNCTION ocpp.clear_tariffs(text, text[], integer) IS
    'Clears default tariffs of a station: those named in tariff_ids (NULL: all), of one EVSE (evse_id; NULL: of every EVSE and the station''s own, 0). Sessions that started before keep them; transaction tariffs stay. A 2.1 station is sent ClearTariffs with the same arguments (clear_command_id in ocpp.tariffs). Returns how many tariffs pgcsms cleared.';
REVOKE ALL ON FUNCTION ocpp.clear_tariffs(text, text[], integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.clear_tariffs(text, text[], integer) TO pgcsms_operator;

-- 2.0.1 I01: the tariff told to a driver in idTokenInfo.personalMessage.
CREATE OR REPLACE FUNCTION ocpp._tariff_message(charge_point_id text, evse_id integer DEFAULT 0,
                                                language text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    WITH tariff AS (
        SELECT d.tariff FROM pgcsms.tariffs AS d
         WHERE d.charge_point_id = _tariff_message.charge_point_id AND d.transaction_id IS NULL
           AND d.evse_id IN (0, coalesce(_tariff_message.evse_id, 0)) AND d.valid_from <= now() AND d.cleared_at IS NULL
         ORDER BY d.evse_id DESC, d.valid_from DESC, d.id DESC
         LIMIT 1),
    described AS (
        -- Its description (in the language asked for, else the first) ...
        SELECT jsonb_strip_nulls(jsonb_build_object('format', m->>'format', 'language', m->>'language',
                                                    'content', left(m->>'content', 512))) AS message
          FROM tariff AS t, jsonb_array_elements(ocpp._array(t.tariff->'description')) WITH ORDINALITY AS x (m, n)
         WHERE m->>'format' IN ('ASCII', 'HTML', 'URI', 'UTF8')
         ORDER BY (m->>'language') IS NOT DISTINCT FROM _tariff_message.language DESC, x.n
         LIMIT 1),
    summary AS (
        -- ... else its first prices in words.
        SELECT jsonb_build_object('format', 'UTF8', 'content', left(string_agg(
                   format('%s %s%s', round((p.p->>q.field)::numeric, greatest(scale((p.p->>q.field)::numeric),
                                                                          ocpp._currency_decimals(t.tariff->>'currency'))),
                          t.tariff->>'currency', q.unit), ', ' ORDER BY q.n), 512))
                   AS message
          FROM tariff AS t
          CROSS JOIN (VALUES (1, 'energy', 'priceKwh', '/kWh'), (2, 'chargingTime', 'priceMinute', '/min charging'),
                             (3, 'idleTime', 'priceMinute', '/min idle'), (4, 'fixedFee', 'priceFixed', ' per session'))
                     AS q (n, part, field, unit)
          CROSS JOIN LATERAL (SELECT t.tariff->q.part->'prices'->0 AS p) AS p
         WHERE p.p IS NOT NULL)
    SELECT coalesce((SELECT message FROM described), (SELECT message FROM summary WHERE message->>'content' IS NOT NULL))
$$;
COMMENT ON FUNCTION ocpp._tariff_message(text, integer, text) IS
    'The default tariff in force now for an EVSE of a station (else the station''s) as a MessageContentType for a 2.0.1 idTokenInfo.personalMessage (I01): its description (in the language asked for, else the first, 512 characters at most), else its first prices in words ("0.30 EUR/kWh, 0.05 EUR/min idle"). NULL without a tariff.';
