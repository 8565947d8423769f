-- OCPP 2.1 tariff commands (I07-I11): the tariffs pgcsms holds
-- (ocpp.tariffs, sql/functions/tariffs.sql) carried to a 2.1 station so that
-- it shows and calculates the same prices, and what its answers change
-- (ocpp._v21_effect_<action>, routed with the 2.1 command effects).
-- pgcsms prices every session itself whatever the station answers:
-- station_status and at_station only say whether the station holds the
-- tariff too.
--   SELECT ocpp.set_default_tariff('CS-21', 0, '{"tariffId": "T-1", "currency": "EUR", "energy": {"prices": [{"priceKwh": 0.30}]}}');
--   SELECT ocpp.get_tariffs('CS-21');

CREATE OR REPLACE FUNCTION ocpp._v21_send_tariff(t pgcsms.tariffs)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    command bigint;
BEGIN
    IF t.transaction_id IS NULL THEN
        command := ocpp.send(t.charge_point_id, 'SetDefaultTariff',
                             jsonb_build_object('evseId', t.evse_id, 'tariff', t.tariff));
    ELSE
        command := ocpp.send(t.charge_point_id, 'ChangeTransactionTariff', jsonb_build_object(
            'transactionId', (SELECT x.remote_id FROM pgcsms.transactions AS x WHERE x.id = t.transaction_id),
            'tariff', t.tariff));
    END IF;
    UPDATE pgcsms.tariffs AS x SET command_id = command, station_status = NULL, at_station = NULL, updated_at = now()
     WHERE x.charge_point_id = t.charge_point_id AND x.id = t.id;
    RETURN command;
END
$$;
COMMENT ON FUNCTION ocpp._v21_send_tariff(pgcsms.tariffs) IS
    'Queues the command that gives a 2.1 station one of its tariffs: SetDefaultTariff (evseId, tariff) for a default one, ChangeTransactionTariff (the station''s transactionId, tariff) for a transaction''s; links it to the tariff (command_id) and forgets what the station said before. Returns the command id.';

CREATE OR REPLACE FUNCTION ocpp._v21_clear_tariffs(charge_point_id text, tariff_ids text[], evse_id integer)
RETURNS bigint
LANGUAGE sql
AS $$
    SELECT ocpp.send(charge_point_id, 'ClearTariffs', jsonb_strip_nulls(jsonb_build_object(
        'tariffIds', to_jsonb(nullif(tariff_ids, '{}')), 'evseId', evse_id)))
$$;
COMMENT ON FUNCTION ocpp._v21_clear_tariffs(text, text[], integer) IS
    'Queues ClearTariffs (OCPP 2.1): the tariffs named (NULL: all) at one EVSE (NULL: every EVSE). Returns the command id.';

CREATE OR REPLACE FUNCTION ocpp.get_tariffs(charge_point_id text, evse_id integer DEFAULT 0,
                                            expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM ocpp._known_charge_point(charge_point_id);
    IF ocpp._charge_point_version(charge_point_id) <> '2.1' THEN
        RAISE EXCEPTION 'GetTariffs is OCPP 2.1: charge point % speaks OCPP %', charge_point_id,
                        ocpp._charge_point_version(charge_point_id)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ocpp.tariffs lists the tariffs pgcsms prices its sessions with';
    END IF;
    RETURN ocpp.send(charge_point_id, 'GetTariffs', jsonb_build_object('evseId', coalesce(evse_id, 0)), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.get_tariffs(text, integer, timestamptz) IS
    'Queues GetTariffs (OCPP 2.1) for one EVSE (evse_id; 0, the default: all of them): the answer (tariffAssignments) says which of the tariffs in ocpp.tariffs the station holds (at_station). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_tariffs(text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_tariffs(text, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.send_tariffs(charge_point_id text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t pgcsms.tariffs;
    n integer := 0;
BEGIN
    PERFORM ocpp._known_charge_point(charge_point_id);
    IF ocpp._charge_point_version(charge_point_id) <> '2.1' THEN
        RETURN 0;
    END IF;
    -- The defaults in force or still to come, and the tariffs of open
    -- sessions, that the station is not known to hold and is not being sent.
    FOR t IN
        SELECT x.* FROM pgcsms.tariffs AS x
          LEFT JOIN pgcsms.transactions AS s ON s.id = x.transaction_id
         WHERE x.charge_point_id = send_tariffs.charge_point_id AND x.cleared_at IS NULL
           AND x.at_station IS NOT TRUE
           AND (x.transaction_id IS NULL AND (x.valid_from > now() OR NOT EXISTS (
                    SELECT FROM pgcsms.tariffs AS n
                     WHERE n.charge_point_id = x.charge_point_id AND n.evse_id = x.evse_id AND n.transaction_id IS NULL
                       AND n.cleared_at IS NULL AND n.valid_from <= now() AND (n.valid_from, n.id) > (x.valid_from, x.id)))
                OR s.stopped_at IS NULL AND s.id IS NOT NULL)
           AND NOT EXISTS (SELECT FROM pgcsms.commands AS c
                            WHERE c.charge_point_id = x.charge_point_id AND c.id = x.command_id
                              AND c.status IN ('queued', 'sent'))
         ORDER BY x.id
    LOOP
        PERFORM ocpp._v21_send_tariff(t);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION ocpp.send_tariffs(text) IS
    'For a 2.1 station (e.g. one that spoke another version when its tariffs were set): queues SetDefaultTariff for each default tariff in force or still to come, and ChangeTransactionTariff for each tariff of an open session, that it is not known to hold (ocpp.tariffs.at_station) and that is not already on its way. Returns how many were queued; 0 for stations of other versions.';
REVOKE ALL ON FUNCTION ocpp.send_tariffs(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.send_tariffs(text) TO pgcsms_operator;

-- Effects of the answers.

-- SetDefaultTariff and ChangeTransactionTariff: the station's status for the
-- tariff the command carried. Accepted: it holds it; DuplicateTariffId: it
-- holds a tariff of that id (maybe this one); any other status: it does not.
-- No answer (failed, timeout, interrupted, expired, cancelled): what became
-- of the command, the station's holding unknown.
CREATE OR REPLACE FUNCTION ocpp._v21_record_tariff_answer(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    UPDATE pgcsms.tariffs AS t
       SET station_status = CASE WHEN c.status IN ('accepted', 'rejected') THEN c.response->>'status' ELSE c.status END,
           at_station = CASE WHEN c.status NOT IN ('accepted', 'rejected') THEN t.at_station
                             WHEN c.response->>'status' = 'Accepted' THEN true
                             WHEN c.response->>'status' = 'DuplicateTariffId' THEN NULL
                             ELSE false END,
           updated_at = now()
     WHERE t.charge_point_id = c.charge_point_id AND t.command_id = c.id
$$;
COMMENT ON FUNCTION ocpp._v21_record_tariff_answer(pgcsms.commands) IS
    'The answer to a SetDefaultTariff or ChangeTransactionTariff in ocpp.tariffs: station_status (the answer''s status, or the command''s status when there was no answer) and at_station (Accepted: true; DuplicateTariffId: not known; other statuses: false).';

CREATE OR REPLACE FUNCTION ocpp._v21_effect_set_default_tariff(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    SELECT ocpp._v21_record_tariff_answer(c)
$$;
COMMENT ON FUNCTION ocpp._v21_effect_set_default_tariff(pgcsms.commands) IS
    'SetDefaultTariff (OCPP 2.1) answered or ended: Accepted, the station holds the tariff (ocpp.tariffs.at_station); Rejected, TooManyElements, ConditionNotSupported, DuplicateTariffId: recorded in station_status (pgcsms still prices its sessions with it).';

CREATE OR REPLACE FUNCTION ocpp._v21_effect_change_transaction_tariff(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    SELECT ocpp._v21_record_tariff_answer(c)
$$;
COMMENT ON FUNCTION ocpp._v21_effect_change_transaction_tariff(pgcsms.commands) IS
    'ChangeTransactionTariff (OCPP 2.1) answered or ended: Accepted, the station calculates the session with the new tariff (ocpp.tariffs.at_station); Rejected, TooManyElements, ConditionNotSupported, TxNotFound, NoCurrencyChange: recorded in station_status (pgcsms still prices the session with it).';

CREATE OR REPLACE FUNCTION ocpp._v21_effect_clear_tariffs(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    -- Each result Accepted or NoTariff: the station no longer holds that
    -- tariff (at the EVSE asked about); NoTariff without a tariffId: it holds
    -- none of those asked about.
    UPDATE pgcsms.tariffs AS t SET at_station = false, updated_at = now()
     WHERE t.charge_point_id = c.charge_point_id AND c.status IN ('accepted', 'rejected', 'completed')
       AND (c.payload->>'evseId' IS NULL OR t.evse_id = (c.payload->>'evseId')::integer)
       AND EXISTS (SELECT FROM jsonb_array_elements(ocpp._array(c.response->'clearTariffsResult')) AS r
                    WHERE r->>'status' IN ('Accepted', 'NoTariff')
                      AND (r->>'tariffId' = t.tariff_id
                           OR r->>'tariffId' IS NULL AND r->>'status' = 'NoTariff'
                              AND (NOT c.payload ? 'tariffIds' OR c.payload->'tariffIds' ? t.tariff_id)))
$$;
COMMENT ON FUNCTION ocpp._v21_effect_clear_tariffs(pgcsms.commands) IS
    'ClearTariffs (OCPP 2.1) answered: each tariff the station reports Accepted (cleared) or NoTariff is no longer at the station (ocpp.tariffs.at_station false), at the EVSE asked about; Rejected changes nothing.';

CREATE OR REPLACE FUNCTION ocpp._v21_effect_get_tariffs(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    -- The station's list for the EVSE asked about (0: all) is the truth about
    -- our tariffs there: named, it holds them; not named, it does not.
    UPDATE pgcsms.tariffs AS t
       SET at_station = c.response->>'status' = 'Accepted' AND EXISTS (
               SELECT FROM jsonb_array_elements(ocpp._array(c.response->'tariffAssignments')) AS a
                WHERE a->>'tariffId' = t.tariff_id
                  AND a->>'tariffKind' = CASE WHEN t.transaction_id IS NULL THEN 'DefaultTariff' ELSE 'DriverTariff' END),
           updated_at = now()
     WHERE t.charge_point_id = c.charge_point_id AND c.response->>'status' IN ('Accepted', 'NoTariff')
       AND c.status IN ('accepted', 'rejected', 'completed')
       AND (coalesce((c.payload->>'evseId')::integer, 0) = 0 OR t.evse_id = (c.payload->>'evseId')::integer)
$$;
COMMENT ON FUNCTION ocpp._v21_effect_get_tariffs(pgcsms.commands) IS
    'GetTariffs (OCPP 2.1) answered Accepted or NoTariff: the tariffs of ocpp.tariffs at the EVSE asked about (0: all) are at_station when the answer''s tariffAssignments name them (DefaultTariff for a default tariff, DriverTariff for a transaction''s), else not; Rejected changes nothing. The full answer stays in ocpp.commands.response.';
