-- One helper per command, with named arguments mirroring the OCPP 1.6 fields
-- in snake_case: each builds the payload (optional fields left out when NULL)
-- and queues it with ocpp.send, returning the command id. Checking the
-- payload against the official schema is the proxy's job, before sending; a
-- payload that fails it ends the command as failed. expires_at, last: the
-- command is not delivered after it.
--   SELECT ocpp.reset('CP-1', type => 'Hard');
--   SELECT ocpp.get_configuration('CP-1', keys => ARRAY['HeartbeatInterval']);

CREATE OR REPLACE FUNCTION ocpp.remote_start_transaction(
    charge_point_id text, id_tag text, connector_id integer DEFAULT NULL, charging_profile jsonb DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'RemoteStartTransaction', jsonb_strip_nulls(jsonb_build_object(
        'idTag', id_tag, 'connectorId', connector_id, 'chargingProfile', charging_profile)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.remote_start_transaction(text, text, integer, jsonb, timestamptz) IS
    'Queues RemoteStartTransaction (idTag, connectorId, chargingProfile); the transaction that follows shows the command in ocpp.transactions.remote_command_id. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.remote_start_transaction(text, text, integer, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.remote_start_transaction(text, text, integer, jsonb, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.remote_stop_transaction(
    charge_point_id text, transaction_id bigint, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'RemoteStopTransaction',
                     jsonb_strip_nulls(jsonb_build_object('transactionId', transaction_id)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.remote_stop_transaction(text, bigint, timestamptz) IS
    'Queues RemoteStopTransaction (transactionId: ocpp.transactions.id). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.remote_stop_transaction(text, bigint, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.remote_stop_transaction(text, bigint, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.reset(charge_point_id text, type text DEFAULT 'Soft', expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'Reset', jsonb_strip_nulls(jsonb_build_object('type', type)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.reset(text, text, timestamptz) IS 'Queues Reset (type Soft | Hard). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.reset(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.reset(text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.unlock_connector(
    charge_point_id text, connector_id integer, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'UnlockConnector',
                     jsonb_strip_nulls(jsonb_build_object('connectorId', connector_id)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.unlock_connector(text, integer, timestamptz) IS
    'Queues UnlockConnector (connectorId > 0); answered Unlocked, UnlockFailed or NotSupported. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.unlock_connector(text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.unlock_connector(text, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.change_availability(
    charge_point_id text, connector_id integer, type text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'ChangeAvailability',
                     jsonb_strip_nulls(jsonb_build_object('connectorId', connector_id, 'type', type)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.change_availability(text, integer, text, timestamptz) IS
    'Queues ChangeAvailability (connectorId, 0 for the whole charge point; type Operative | Inoperative); the result shows in ocpp.connector_availability. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.change_availability(text, integer, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.change_availability(text, integer, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_configuration(
    charge_point_id text, keys text[] DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetConfiguration', jsonb_strip_nulls(jsonb_build_object('key', to_jsonb(keys))),
                     expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_configuration(text, text[], timestamptz) IS
    'Queues GetConfiguration for the given keys (NULL: all); the answer fills ocpp.charger_configuration. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_configuration(text, text[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_configuration(text, text[], timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.change_configuration(
    charge_point_id text, key text, value text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'ChangeConfiguration',
                     jsonb_strip_nulls(jsonb_build_object('key', key, 'value', value)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.change_configuration(text, text, text, timestamptz) IS
    'Queues ChangeConfiguration (key, value); Accepted or RebootRequired updates ocpp.charger_configuration. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.change_configuration(text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.change_configuration(text, text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.clear_cache(charge_point_id text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'ClearCache', '{}'::jsonb, expires_at)
$$;
COMMENT ON FUNCTION ocpp.clear_cache(text, timestamptz) IS
    'Queues ClearCache (the charger''s authorization cache). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.clear_cache(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.clear_cache(text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.trigger_message(
    charge_point_id text, requested_message text, connector_id integer DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'TriggerMessage', jsonb_strip_nulls(jsonb_build_object(
        'requestedMessage', requested_message, 'connectorId', connector_id)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.trigger_message(text, text, integer, timestamptz) IS
    'Queues TriggerMessage (requestedMessage BootNotification | DiagnosticsStatusNotification | FirmwareStatusNotification | Heartbeat | MeterValues | StatusNotification; connectorId). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.trigger_message(text, text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.trigger_message(text, text, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.reserve_now(
    charge_point_id text, connector_id integer, id_tag text, expires_at timestamptz,
    parent_id_tag text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reservation integer;
    command bigint;
    parent text := parent_id_tag;
BEGIN
    IF NOT EXISTS (SELECT FROM pgcsms.charge_points AS cp WHERE cp.id = reserve_now.charge_point_id) THEN
        RAISE EXCEPTION 'unknown charge point %', quote_nullable(charge_point_id) USING ERRCODE = 'no_data_found';
    END IF;
    IF connector_id IS NULL OR connector_id < 0 THEN
        RAISE EXCEPTION 'connector_id is 0 (any connector) or a connector number, not %', coalesce(connector_id::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF id_tag IS NULL OR id_tag = '' OR length(id_tag) > 20 THEN
        RAISE EXCEPTION 'an id tag is 1 to 20 characters, not %', quote_nullable(id_tag)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF expires_at IS NULL OR expires_at <= now() THEN
        RAISE EXCEPTION 'a reservation expires in the future, not at %', coalesce(expires_at::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF parent IS NULL THEN
        SELECT t.parent_id_tag INTO parent FROM pgcsms.id_tags AS t WHERE upper(t.id_tag) = upper(reserve_now.id_tag);
    END IF;
    INSERT INTO pgcsms.reservations (charge_point_id, connector_id, id_tag, parent_id_tag, expires_at)
    VALUES (reserve_now.charge_point_id, reserve_now.connector_id, reserve_now.id_tag, parent, reserve_now.expires_at)
    RETURNING id INTO reservation;
    -- Not worth delivering once the reservation has expired.
    command := ocpp.send(charge_point_id, 'ReserveNow', jsonb_strip_nulls(jsonb_build_object(
        'connectorId', connector_id, 'expiryDate', ocpp._iso(expires_at), 'idTag', id_tag,
        'parentIdTag', parent, 'reservationId', reservation)), expires_at);
    UPDATE pgcsms.reservations AS r SET command_id = command WHERE r.id = reservation;
    RETURN command;
END
$$;
COMMENT ON FUNCTION ocpp.reserve_now(text, integer, text, timestamptz, text) IS
    'Makes a reservation (ocpp.reservations, status Requested; parent_id_tag defaults to the tag''s parent) and queues ReserveNow with its id as reservationId; the answer sets the reservation''s status. connector_id 0: any connector. Returns the command id (ocpp.reservations.command_id).';
REVOKE ALL ON FUNCTION ocpp.reserve_now(text, integer, text, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.reserve_now(text, integer, text, timestamptz, text) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.cancel_reservation(
    charge_point_id text, reservation_id integer, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'CancelReservation',
                     jsonb_strip_nulls(jsonb_build_object('reservationId', reservation_id)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.cancel_reservation(text, integer, timestamptz) IS
    'Queues CancelReservation; Accepted marks the reservation Cancelled. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.cancel_reservation(text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.cancel_reservation(text, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.send_local_list(
    charge_point_id text, update_type text DEFAULT 'Full', id_tags text[] DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    version integer;
    list jsonb;
BEGIN
    IF update_type IS NULL OR update_type NOT IN ('Full', 'Differential') THEN
        RAISE EXCEPTION 'update_type is Full or Differential, not %', quote_nullable(update_type)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF update_type = 'Differential' AND id_tags IS NULL THEN
        RAISE EXCEPTION 'a Differential update names the id_tags to add, update or remove'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One more than the version the charger has, or will have once the
    -- lists still queued or in flight arrive.
    SELECT greatest(
               (SELECT ll.list_version FROM pgcsms.local_lists AS ll WHERE ll.charge_point_id = send_local_list.charge_point_id),
               (SELECT max((c.payload->>'listVersion')::integer) FROM pgcsms.commands AS c
                 WHERE c.charge_point_id = send_local_list.charge_point_id AND c.action = 'SendLocalList'
                   AND c.status IN ('queued', 'sent')),
               0) + 1
      INTO version;
    IF id_tags IS NULL THEN
        SELECT jsonb_agg(jsonb_build_object('idTag', t.id_tag, 'idTagInfo', ocpp._id_tag_info(t.id_tag, false))
                         ORDER BY t.id_tag)
          INTO list FROM pgcsms.id_tags AS t;
    ELSE
        -- The given tags; in a Differential update an unknown tag is sent
        -- without idTagInfo, which removes it from the charger's list.
        SELECT jsonb_agg(CASE WHEN t.id_tag IS NULL THEN jsonb_build_object('idTag', g.tag)
                              ELSE jsonb_build_object('idTag', t.id_tag, 'idTagInfo', ocpp._id_tag_info(t.id_tag, false))
                         END ORDER BY g.ord)
          INTO list
          FROM (SELECT DISTINCT ON (upper(u.tag)) u.tag, u.ord FROM unnest(id_tags) WITH ORDINALITY AS u(tag, ord)
                 WHERE u.tag IS NOT NULL ORDER BY upper(u.tag), u.ord) AS g
          LEFT JOIN pgcsms.id_tags AS t ON upper(t.id_tag) = upper(g.tag)
         WHERE update_type = 'Differential' OR t.id_tag IS NOT NULL;
    END IF;
    RETURN ocpp.send(charge_point_id, 'SendLocalList', jsonb_build_object(
        'listVersion', version, 'updateType', update_type, 'localAuthorizationList', coalesce(list, '[]'::jsonb)),
        expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.send_local_list(text, text, text[], timestamptz) IS
    'Queues SendLocalList built from ocpp.id_tags with each tag''s idTagInfo: Full with every tag (id_tags NULL) or the given ones; Differential with the given ones (a tag no longer in ocpp.id_tags is removed from the charger''s list). listVersion is one more than the version known for the charger (ocpp.local_lists). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.send_local_list(text, text, text[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.send_local_list(text, text, text[], timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_local_list_version(charge_point_id text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetLocalListVersion', '{}'::jsonb, expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_local_list_version(text, timestamptz) IS
    'Queues GetLocalListVersion; the answer updates ocpp.local_lists. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_local_list_version(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_local_list_version(text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.set_charging_profile(
    charge_point_id text, connector_id integer, cs_charging_profiles jsonb, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'SetChargingProfile', jsonb_strip_nulls(jsonb_build_object(
        'connectorId', connector_id, 'csChargingProfiles', cs_charging_profiles)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.set_charging_profile(text, integer, jsonb, timestamptz) IS
    'Queues SetChargingProfile (connectorId, csChargingProfiles as OCPP JSON); Accepted stores it in ocpp.charging_profiles. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.set_charging_profile(text, integer, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_charging_profile(text, integer, jsonb, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.clear_charging_profile(
    charge_point_id text, id integer DEFAULT NULL, connector_id integer DEFAULT NULL,
    charging_profile_purpose text DEFAULT NULL, stack_level integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'ClearChargingProfile', jsonb_strip_nulls(jsonb_build_object(
        'id', id, 'connectorId', connector_id, 'chargingProfilePurpose', charging_profile_purpose,
        'stackLevel', stack_level)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.clear_charging_profile(text, integer, integer, text, integer, timestamptz) IS
    'Queues ClearChargingProfile: one profile by id, or those matching connectorId, chargingProfilePurpose, stackLevel (all, with none given); Accepted removes them from ocpp.charging_profiles. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.clear_charging_profile(text, integer, integer, text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.clear_charging_profile(text, integer, integer, text, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_composite_schedule(
    charge_point_id text, connector_id integer, duration integer, charging_rate_unit text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetCompositeSchedule', jsonb_strip_nulls(jsonb_build_object(
        'connectorId', connector_id, 'duration', duration, 'chargingRateUnit', charging_rate_unit)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_composite_schedule(text, integer, integer, text, timestamptz) IS
    'Queues GetCompositeSchedule (connectorId, duration in seconds, chargingRateUnit A | W); Accepted keeps it in ocpp.composite_schedules. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_composite_schedule(text, integer, integer, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_composite_schedule(text, integer, integer, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_diagnostics(
    charge_point_id text, location text, retries integer DEFAULT NULL, retry_interval integer DEFAULT NULL,
    start_time timestamptz DEFAULT NULL, stop_time timestamptz DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetDiagnostics', jsonb_strip_nulls(jsonb_build_object(
        'location', location, 'retries', retries, 'retryInterval', retry_interval,
        'startTime', ocpp._iso(start_time), 'stopTime', ocpp._iso(stop_time))), expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_diagnostics(text, text, integer, integer, timestamptz, timestamptz, timestamptz) IS
    'Queues GetDiagnostics (location: the upload URI); the answer opens a diagnostics job in ocpp.jobs. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_diagnostics(text, text, integer, integer, timestamptz, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_diagnostics(text, text, integer, integer, timestamptz, timestamptz, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.update_firmware(
    charge_point_id text, location text, retrieve_date timestamptz DEFAULT now(), retries integer DEFAULT NULL,
    retry_interval integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'UpdateFirmware', jsonb_strip_nulls(jsonb_build_object(
        'location', location, 'retrieveDate', ocpp._iso(coalesce(retrieve_date, now())), 'retries', retries,
        'retryInterval', retry_interval)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.update_firmware(text, text, timestamptz, integer, integer, timestamptz) IS
    'Queues UpdateFirmware (location: the firmware URI; retrieve_date: now unless given); the answer opens a firmware job in ocpp.jobs. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.update_firmware(text, text, timestamptz, integer, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.update_firmware(text, text, timestamptz, integer, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.data_transfer(
    charge_point_id text, vendor_id text, message_id text DEFAULT NULL, data text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'DataTransfer', jsonb_strip_nulls(jsonb_build_object(
        'vendorId', vendor_id, 'messageId', message_id, 'data', data)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.data_transfer(text, text, text, text, timestamptz) IS
    'Queues DataTransfer (vendorId, messageId, data); the answer is kept in ocpp.data_transfers (direction out). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.data_transfer(text, text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.data_transfer(text, text, text, text, timestamptz) TO pgcsms_operator;

-- Security extension (OCPP 1.6 Security Whitepaper).

CREATE OR REPLACE FUNCTION ocpp.certificate_signed(
    charge_point_id text, certificate_chain text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'CertificateSigned',
                     jsonb_strip_nulls(jsonb_build_object('certificateChain', certificate_chain)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.certificate_signed(text, text, timestamptz) IS
    'Queues CertificateSigned (the PEM chain signed from the charger''s CSR); Accepted records it in ocpp.installed_certificates and marks the CSR Signed. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.certificate_signed(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.certificate_signed(text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.install_certificate(
    charge_point_id text, certificate_type text, certificate text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'InstallCertificate', jsonb_strip_nulls(jsonb_build_object(
        'certificateType', certificate_type, 'certificate', certificate)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.install_certificate(text, text, text, timestamptz) IS
    'Queues InstallCertificate (certificateType CentralSystemRootCertificate | ManufacturerRootCertificate, PEM certificate). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.install_certificate(text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.install_certificate(text, text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_installed_certificate_ids(
    charge_point_id text, certificate_type text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetInstalledCertificateIds',
                     jsonb_strip_nulls(jsonb_build_object('certificateType', certificate_type)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_installed_certificate_ids(text, text, timestamptz) IS
    'Queues GetInstalledCertificateIds (certificateType); the answer replaces the reported certificates of that type in ocpp.installed_certificates. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_installed_certificate_ids(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_installed_certificate_ids(text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.delete_certificate(
    charge_point_id text, hash_algorithm text, issuer_name_hash text, issuer_key_hash text, serial_number text,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'DeleteCertificate', jsonb_build_object('certificateHashData',
        jsonb_strip_nulls(jsonb_build_object('hashAlgorithm', hash_algorithm, 'issuerNameHash', issuer_name_hash,
                                             'issuerKeyHash', issuer_key_hash, 'serialNumber', serial_number))),
        expires_at)
$$;
COMMENT ON FUNCTION ocpp.delete_certificate(text, text, text, text, text, timestamptz) IS
    'Queues DeleteCertificate (certificateHashData: hash_algorithm SHA256 | SHA384 | SHA512, issuer name and key hashes, serial number). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.delete_certificate(text, text, text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.delete_certificate(text, text, text, text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_log(
    charge_point_id text, log_type text, request_id integer, remote_location text,
    oldest_timestamp timestamptz DEFAULT NULL, latest_timestamp timestamptz DEFAULT NULL,
    retries integer DEFAULT NULL, retry_interval integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetLog', jsonb_strip_nulls(jsonb_build_object(
        'logType', log_type, 'requestId', request_id,
        'log', jsonb_build_object('remoteLocation', remote_location, 'oldestTimestamp', ocpp._iso(oldest_timestamp),
                                  'latestTimestamp', ocpp._iso(latest_timestamp)),
        'retries', retries, 'retryInterval', retry_interval)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_log(text, text, integer, text, timestamptz, timestamptz, integer, integer, timestamptz) IS
    'Queues GetLog (logType DiagnosticsLog | SecurityLog, requestId, log.remoteLocation and time window); the answer opens a log job in ocpp.jobs that LogStatusNotification with the same requestId follows. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_log(text, text, integer, text, timestamptz, timestamptz, integer, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_log(text, text, integer, text, timestamptz, timestamptz, integer, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.signed_update_firmware(
    charge_point_id text, request_id integer, location text, retrieve_date_time timestamptz,
    signing_certificate text, signature text, install_date_time timestamptz DEFAULT NULL,
    retries integer DEFAULT NULL, retry_interval integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'SignedUpdateFirmware', jsonb_strip_nulls(jsonb_build_object(
        'requestId', request_id,
        'firmware', jsonb_build_object('location', location, 'retrieveDateTime', ocpp._iso(retrieve_date_time),
                                       'installDateTime', ocpp._iso(install_date_time),
                                       'signingCertificate', signing_certificate, 'signature', signature),
        'retries', retries, 'retryInterval', retry_interval)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.signed_update_firmware(text, integer, text, timestamptz, text, text, timestamptz, integer, integer, timestamptz) IS
    'Queues SignedUpdateFirmware (requestId, firmware location, retrieve and install times, signing certificate, signature); the answer opens a signed_firmware job in ocpp.jobs that SignedFirmwareStatusNotification with the same requestId follows. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.signed_update_firmware(text, integer, text, timestamptz, text, text, timestamptz, integer, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.signed_update_firmware(text, integer, text, timestamptz, text, text, timestamptz, integer, integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.extended_trigger_message(
    charge_point_id text, requested_message text, connector_id integer DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'ExtendedTriggerMessage', jsonb_strip_nulls(jsonb_build_object(
        'requestedMessage', requested_message, 'connectorId', connector_id)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.extended_trigger_message(text, text, integer, timestamptz) IS
    'Queues ExtendedTriggerMessage (requestedMessage BootNotification | LogStatusNotification | FirmwareStatusNotification | Heartbeat | MeterValues | SignChargePointCertificate | StatusNotification; connectorId). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.extended_trigger_message(text, text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.extended_trigger_message(text, text, integer, timestamptz) TO pgcsms_operator;
