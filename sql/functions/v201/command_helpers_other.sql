-- Commands to OCPP 2.0.1 stations for smart charging, firmware, display
-- messages, customer information and cost, one helper each with named
-- arguments mirroring the fields in snake_case (README "Commands to
-- chargers"). Helpers whose action 1.6 has too (set_charging_profile,
-- update_firmware, ...) serve both versions from sql/functions/command_helpers.sql,
-- with the version checks defined here (the version itself is
-- ocpp._charge_point_version's, in that file). requestIds are drawn from
-- pgcsms.request_ids unless given.
--   SELECT ocpp.set_display_message('CP-201', 'Out of order until noon', priority => 'InFront');
--   SELECT ocpp.get_charging_profiles('CP-201', charging_profile_purpose => 'TxDefaultProfile');

-- Version checks for helpers that serve 1.6 and 2.0.1.

CREATE OR REPLACE FUNCTION ocpp._refuse_arguments(charge_point_id text, arguments jsonb, hint text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    given text := (SELECT string_agg(a.key, ', ' ORDER BY a.key) FROM jsonb_each(arguments) AS a
                    WHERE jsonb_typeof(a.value) <> 'null');
BEGIN
    IF given IS NOT NULL THEN
        RAISE EXCEPTION '% given, but charge point % speaks OCPP %', given, charge_point_id,
                        ocpp._charge_point_version(charge_point_id)
            USING ERRCODE = 'invalid_parameter_value', HINT = hint;
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._refuse_arguments(text, jsonb, text) IS
    'For helpers serving both versions: raises invalid_parameter_value, with the hint, when any of the arguments (name → value; NULL: not given) that the charge point''s OCPP version has no field for was given.';

CREATE OR REPLACE FUNCTION ocpp._check_value(charge_point_id text, argument text, value text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    version text := ocpp._charge_point_version(charge_point_id);
    other text;
BEGIN
    -- Values 2.0.1 renamed: given in the other version's spelling, say which.
    SELECT CASE WHEN ocpp._is_v2(version) THEN r.v201 ELSE r.v16 END INTO other
      FROM (VALUES ('CentralSystemRootCertificate', 'CSMSRootCertificate'),
                   ('ChargePointCertificate', 'ChargingStationCertificate'),
                   ('ChargePointMaxProfile', 'ChargingStationMaxProfile')) AS r (v16, v201)
     WHERE value = CASE WHEN ocpp._is_v2(version) THEN r.v16 ELSE r.v201 END;
    IF FOUND THEN
        RAISE EXCEPTION '% % is not OCPP %: charge point % speaks OCPP %', argument, quote_literal(value), version,
                        charge_point_id, version
            USING ERRCODE = 'invalid_parameter_value', HINT = format('OCPP %s calls it %s', version, other);
    END IF;
    RETURN value;
END
$$;
COMMENT ON FUNCTION ocpp._check_value(text, text, text) IS
    'For helpers serving both versions: the value, or invalid_parameter_value naming this version''s spelling when it is the other version''s name for it (CentralSystemRootCertificate / CSMSRootCertificate, ChargePointCertificate / ChargingStationCertificate, ChargePointMaxProfile / ChargingStationMaxProfile).';

CREATE OR REPLACE FUNCTION ocpp._new_request_id()
RETURNS integer
LANGUAGE sql
AS $$
    SELECT nextval('pgcsms.request_ids')::integer
$$;
COMMENT ON FUNCTION ocpp._new_request_id() IS
    'A requestId for a command that needs one and was given none (pgcsms.request_ids: unique across stations, cycling within int32).';

-- The command a station's report answers, by its requestId: the newest of
-- the action for the station with that requestId.
CREATE OR REPLACE FUNCTION ocpp._command_of_request(charge_point_id text, action text, request_id integer)
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT c.id FROM pgcsms.commands AS c
     WHERE c.charge_point_id = _command_of_request.charge_point_id AND c.action = _command_of_request.action
       AND c.payload->'requestId' = to_jsonb(_command_of_request.request_id)
     ORDER BY c.id DESC
     LIMIT 1
$$;
COMMENT ON FUNCTION ocpp._command_of_request(text, text, integer) IS
    'The newest command of this action to the charge point whose payload has this requestId (what a ReportChargingProfiles, NotifyDisplayMessages or NotifyCustomerInformation answers), or NULL.';

-- K: smart charging.

CREATE OR REPLACE FUNCTION ocpp.get_charging_profiles(
    charge_point_id text, request_id integer DEFAULT NULL, evse_id integer DEFAULT NULL,
    charging_profile_ids integer[] DEFAULT NULL, charging_profile_purpose text DEFAULT NULL,
    stack_level integer DEFAULT NULL, charging_limit_sources text[] DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    criteria jsonb := jsonb_strip_nulls(jsonb_build_object(
        'chargingProfileId', to_jsonb(charging_profile_ids),
        'chargingProfilePurpose', ocpp._check_value(charge_point_id, 'charging_profile_purpose', charging_profile_purpose),
        'stackLevel', stack_level, 'chargingLimitSource', to_jsonb(charging_limit_sources)));
BEGIN
    -- K09.FR.03: profile ids, or at least one filter.
    IF criteria = '{}' THEN
        RAISE EXCEPTION 'GetChargingProfiles names profile ids or a filter' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'charging_profile_ids => ARRAY[...], or charging_profile_purpose, stack_level, charging_limit_sources (ARRAY[''CSO'', ''EMS'', ''SO'', ''Other''] for all)';
    END IF;
    RETURN ocpp.send(charge_point_id, 'GetChargingProfiles', jsonb_strip_nulls(jsonb_build_object(
        'requestId', coalesce(request_id, ocpp._new_request_id()), 'evseId', evse_id, 'chargingProfile', criteria)),
        expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.get_charging_profiles(text, integer, integer, integer[], text, integer, text[], timestamptz) IS
    'Queues GetChargingProfiles (OCPP 2.0.1) for the profiles with the given ids, or matching purpose, stack level and limit sources (at least one), on one EVSE (evse_id; 0: the station''s own) or all; request_id: a new one unless given. The station answers with ReportChargingProfiles, kept in ocpp.reported_charging_profiles. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_charging_profiles(text, integer, integer, integer[], text, integer, text[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_charging_profiles(text, integer, integer, integer[], text, integer, text[], timestamptz) TO pgcsms_operator;

-- L: firmware on a local controller.

CREATE OR REPLACE FUNCTION ocpp.publish_firmware(
    charge_point_id text, location text, checksum text, request_id integer DEFAULT NULL,
    retries integer DEFAULT NULL, retry_interval integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'PublishFirmware', jsonb_strip_nulls(jsonb_build_object(
        'location', location, 'checksum', checksum, 'requestId', coalesce(request_id, ocpp._new_request_id()),
        'retries', retries, 'retryInterval', retry_interval)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.publish_firmware(text, text, text, integer, integer, integer, timestamptz) IS
    'Queues PublishFirmware (OCPP 2.0.1, to a local controller): location of the firmware, its MD5 checksum (hex), request_id (a new one unless given); Accepted opens a publish_firmware job in ocpp.jobs that PublishFirmwareStatusNotification follows, with the URIs it is published at. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.publish_firmware(text, text, text, integer, integer, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.publish_firmware(text, text, text, integer, integer, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.unpublish_firmware(charge_point_id text, checksum text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'UnpublishFirmware',
                     jsonb_strip_nulls(jsonb_build_object('checksum', checksum)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.unpublish_firmware(text, text, timestamptz) IS
    'Queues UnpublishFirmware (OCPP 2.0.1): the local controller stops serving the firmware of this checksum; answered Unpublished, its publish job in ocpp.jobs becomes Unpublished (ocpp.commands.status says rejected for any answer but Accepted: read response). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.unpublish_firmware(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.unpublish_firmware(text, text, timestamptz) TO pgcsms_operator;

-- O: display messages.

CREATE OR REPLACE FUNCTION ocpp.set_display_message(
    charge_point_id text, content text, priority text DEFAULT 'NormalCycle', id integer DEFAULT NULL,
    format text DEFAULT 'UTF8', language text DEFAULT NULL, state text DEFAULT NULL,
    start_date_time timestamptz DEFAULT NULL, end_date_time timestamptz DEFAULT NULL, transaction_id text DEFAULT NULL,
    display jsonb DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    message_id integer := id;
BEGIN
    -- A new id: one past every id the station has or will have once the
    -- messages queued or in flight arrive.
    IF message_id IS NULL THEN
        SELECT greatest(
                   (SELECT max(m.message_id) FROM pgcsms.display_messages AS m
                     WHERE m.charge_point_id = set_display_message.charge_point_id),
                   (SELECT max((c.payload#>>'{message,id}')::integer) FROM pgcsms.commands AS c
                     WHERE c.charge_point_id = set_display_message.charge_point_id AND c.action = 'SetDisplayMessage'
                       AND c.status IN ('queued', 'sent')),
                   0) + 1
          INTO message_id;
    END IF;
    -- O01.FR.04: transactionId only for a message of a transaction.
    RETURN ocpp.send(charge_point_id, 'SetDisplayMessage', jsonb_build_object('message', jsonb_strip_nulls(
        jsonb_build_object(
            'id', message_id, 'priority', priority, 'state', state, 'startDateTime', ocpp._iso(start_date_time),
            'endDateTime', ocpp._iso(end_date_time), 'transactionId', transaction_id, 'display', display,
            'message', jsonb_build_object('format', format, 'language', language, 'content', content)))),
        expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.set_display_message(text, text, text, integer, text, text, text, timestamptz, timestamptz, text, jsonb, timestamptz) IS
    'Queues SetDisplayMessage (OCPP 2.0.1): content in format (ASCII | HTML | URI | UTF8) and language, priority AlwaysFront | InFront | NormalCycle, id (one past the station''s highest unless given), state, shown from start_date_time until end_date_time, transaction_id (the station''s, ocpp.transactions.remote_id: shown during that transaction only), display (ComponentType). Accepted keeps it in ocpp.display_messages. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.set_display_message(text, text, text, integer, text, text, text, timestamptz, timestamptz, text, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_display_message(text, text, text, integer, text, text, text, timestamptz, timestamptz, text, jsonb, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_display_messages(
    charge_point_id text, request_id integer DEFAULT NULL, ids integer[] DEFAULT NULL, priority text DEFAULT NULL,
    state text DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetDisplayMessages', jsonb_strip_nulls(jsonb_build_object(
        'requestId', coalesce(request_id, ocpp._new_request_id()), 'id', to_jsonb(ids), 'priority', priority,
        'state', state)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_display_messages(text, integer, integer[], text, text, timestamptz) IS
    'Queues GetDisplayMessages (OCPP 2.0.1) for the messages with these ids, priority and state (none given: every message); request_id: a new one unless given. The station reports them with NotifyDisplayMessages into ocpp.display_messages; asked for every message, its report replaces what we knew. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_display_messages(text, integer, integer[], text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_display_messages(text, integer, integer[], text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.clear_display_message(charge_point_id text, id integer, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'ClearDisplayMessage', jsonb_strip_nulls(jsonb_build_object('id', id)),
                     expires_at)
$$;
COMMENT ON FUNCTION ocpp.clear_display_message(text, integer, timestamptz) IS
    'Queues ClearDisplayMessage (OCPP 2.0.1) of the message with this id; Accepted (or Unknown: the station has none) removes it from ocpp.display_messages. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.clear_display_message(text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.clear_display_message(text, integer, timestamptz) TO pgcsms_operator;

-- N: customer information.

CREATE OR REPLACE FUNCTION ocpp.customer_information(
    charge_point_id text, report boolean DEFAULT true, clear boolean DEFAULT false, id_token text DEFAULT NULL,
    id_token_type text DEFAULT NULL, customer_identifier text DEFAULT NULL,
    customer_certificate jsonb DEFAULT NULL, request_id integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- N09.FR.04 / N10.FR.08: exactly one reference to the customer.
    IF num_nonnulls(id_token, customer_identifier, customer_certificate) <> 1 THEN
        RAISE EXCEPTION 'CustomerInformation names the customer once: by id_token, customer_identifier or customer_certificate'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT coalesce(report, false) AND NOT coalesce(clear, false) THEN
        RAISE EXCEPTION 'CustomerInformation reports the data, clears it, or both' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'report => true, clear => true';
    END IF;
    RETURN ocpp.send(charge_point_id, 'CustomerInformation', jsonb_strip_nulls(jsonb_build_object(
        'requestId', coalesce(request_id, ocpp._new_request_id()), 'report', report, 'clear', clear,
        'idToken', CASE WHEN id_token IS NOT NULL THEN jsonb_build_object(
            'idToken', id_token, 'type', coalesce(id_token_type, ocpp._id_token_type_for(id_token))) END,
        'customerIdentifier', customer_identifier, 'customerCertificate', customer_certificate)), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.customer_information(text, boolean, boolean, text, text, text, jsonb, integer, timestamptz) IS
    'Queues CustomerInformation (OCPP 2.0.1): report and/or clear what the station holds about one customer, named by id_token (with id_token_type: the tag''s own unless given, ocpp._id_token_type_for), customer_identifier or customer_certificate (CertificateHashDataType); request_id: a new one unless given. The station reports with NotifyCustomerInformation into ocpp.customer_information. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.customer_information(text, boolean, boolean, text, text, text, jsonb, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.customer_information(text, boolean, boolean, text, text, text, jsonb, integer, timestamptz) TO pgcsms_operator;

-- I: cost.

CREATE OR REPLACE FUNCTION ocpp.cost_updated(
    charge_point_id text, transaction_id text, total_cost numeric, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'CostUpdated', jsonb_strip_nulls(jsonb_build_object(
        'transactionId', transaction_id, 'totalCost', total_cost)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.cost_updated(text, text, numeric, timestamptz) IS
    'Queues CostUpdated (OCPP 2.0.1): the running total_cost, in the station''s currency, of the transaction transaction_id (the station''s, ocpp.transactions.remote_id). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.cost_updated(text, text, numeric, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.cost_updated(text, text, numeric, timestamptz) TO pgcsms_operator;
