-- What an answered (or never delivered) command changes besides its own row.
-- One function per action, called by ocpp._settle_command in the transaction
-- that records the answer. Each looks at c.status first: most act only on
-- accepted or completed answers. The larger ones live in
-- command_effect_*.sql.
CREATE OR REPLACE FUNCTION ocpp._command_effect(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.ocpp_version = '2.0.1' THEN
        PERFORM ocpp._command_effect_v201(c);
        RETURN;
    ELSIF c.ocpp_version = '2.1' THEN
        PERFORM ocpp._command_effect_v21(c);  -- 2.1's own commands, then 2.0.1's
        RETURN;
    END IF;
    CASE c.action
        WHEN 'GetConfiguration' THEN PERFORM ocpp._effect_get_configuration(c);
        WHEN 'ChangeConfiguration' THEN PERFORM ocpp._effect_change_configuration(c);
        WHEN 'SendLocalList' THEN PERFORM ocpp._effect_send_local_list(c);
        WHEN 'GetLocalListVersion' THEN PERFORM ocpp._effect_get_local_list_version(c);
        WHEN 'ReserveNow' THEN PERFORM ocpp._effect_reserve_now(c);
        WHEN 'CancelReservation' THEN PERFORM ocpp._effect_cancel_reservation(c);
        WHEN 'SetChargingProfile' THEN PERFORM ocpp._effect_set_charging_profile(c);
        WHEN 'ClearChargingProfile' THEN PERFORM ocpp._effect_clear_charging_profile(c);
        WHEN 'GetCompositeSchedule' THEN PERFORM ocpp._effect_get_composite_schedule(c);
        WHEN 'GetDiagnostics', 'UpdateFirmware', 'GetLog', 'SignedUpdateFirmware' THEN PERFORM ocpp._effect_job(c);
        WHEN 'InstallCertificate', 'CertificateSigned', 'GetInstalledCertificateIds', 'DeleteCertificate' THEN
            PERFORM ocpp._effect_certificates(c);
        WHEN 'ChangeAvailability' THEN PERFORM ocpp._effect_change_availability(c);
        WHEN 'DataTransfer' THEN PERFORM ocpp._effect_data_transfer(c);
        -- RemoteStartTransaction is linked by the StartTransaction that
        -- follows (ocpp._remote_start_command). RemoteStopTransaction, Reset,
        -- UnlockConnector, TriggerMessage, ExtendedTriggerMessage and
        -- ClearCache: the answer in the command row is the whole record.
        ELSE NULL;
    END CASE;
END
$$;
COMMENT ON FUNCTION ocpp._command_effect(pgcsms.commands) IS
    'Routes a finished command to the business effect of its action: 1.6 in sql/functions/command_effect*.sql, 2.0.1 in ocpp._command_effect_v201, 2.1 in ocpp._command_effect_v21 (which passes the commands 2.0.1 has to ocpp._command_effect_v201).';

-- A JSON array, or an empty one: answers are schema-checked by the proxy,
-- but an effect must not fail on a charger's odd answer.
CREATE OR REPLACE FUNCTION ocpp._array(value jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'array' THEN value ELSE '[]'::jsonb END
$$;
COMMENT ON FUNCTION ocpp._array(jsonb) IS 'The value if it is a JSON array, else [].';

-- ChangeAvailability accepted or scheduled, in any version: the availability
-- the charger was asked for, per (evse_id, connector_id) as in
-- pgcsms.connectors.
CREATE OR REPLACE FUNCTION ocpp._record_availability(c pgcsms.commands, evse_id integer, connector_id integer,
                                                     availability text)
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO pgcsms.connector_availability AS a
        (charge_point_id, evse_id, connector_id, availability, scheduled, command_id)
    SELECT c.charge_point_id, evse_id, connector_id, availability, c.response->>'status' = 'Scheduled', c.id
     WHERE c.status = 'accepted'
    ON CONFLICT (charge_point_id, evse_id, connector_id) DO UPDATE
       SET availability = excluded.availability, scheduled = excluded.scheduled, command_id = excluded.command_id,
           updated_at = now()
$$;
COMMENT ON FUNCTION ocpp._record_availability(pgcsms.commands, integer, integer, text) IS
    'ChangeAvailability answered Accepted or Scheduled (any OCPP version): the requested availability of a connector, EVSE or charger in ocpp.connector_availability, scheduled when the charger applies it after the running transaction.';

CREATE OR REPLACE FUNCTION ocpp._effect_change_availability(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    SELECT ocpp._record_availability(c, (c.payload->>'connectorId')::integer, (c.payload->>'connectorId')::integer,
                                     c.payload->>'type')
$$;
COMMENT ON FUNCTION ocpp._effect_change_availability(pgcsms.commands) IS
    'ChangeAvailability (1.6) Accepted or Scheduled: the connector''s requested availability in ocpp.connector_availability (ocpp._record_availability), its connectorId as evse_id and connector_id.';

CREATE OR REPLACE FUNCTION ocpp._effect_data_transfer(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status NOT IN ('accepted', 'rejected') THEN
        RETURN;
    END IF;
    INSERT INTO pgcsms.data_transfers
        (charge_point_id, direction, vendor_id, message_id, data, status, command_id, response_data)
    VALUES (c.charge_point_id, 'out', c.payload->>'vendorId', c.payload->>'messageId', c.payload->>'data',
            c.response->>'status', c.id, c.response->>'data');
END
$$;
COMMENT ON FUNCTION ocpp._effect_data_transfer(pgcsms.commands) IS
    'DataTransfer answered: a row of ocpp.data_transfers with direction out, the charger''s status and data.';

-- The RemoteStartTransaction a StartTransaction follows: the newest one for
-- this charger and tag (and connector, if it named one), accepted (or sent
-- and still unanswered: some chargers start before they answer), within the
-- last five minutes, and not linked to another transaction yet.
CREATE OR REPLACE FUNCTION ocpp._remote_start_command(charge_point_id text, connector_id integer, id_tag text)
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT c.id FROM pgcsms.commands AS c
     WHERE c.charge_point_id = _remote_start_command.charge_point_id
       AND c.action = 'RemoteStartTransaction' AND c.status IN ('accepted', 'sent')
       AND upper(c.payload->>'idTag') = upper(_remote_start_command.id_tag)
       AND (NOT c.payload ? 'connectorId' OR (c.payload->>'connectorId')::integer = _remote_start_command.connector_id)
       AND coalesce(c.completed_at, c.sent_at) >= now() - interval '5 minutes'
       AND NOT EXISTS (SELECT FROM pgcsms.transactions AS t WHERE t.remote_command_id = c.id)
     ORDER BY c.id DESC
     LIMIT 1
$$;
COMMENT ON FUNCTION ocpp._remote_start_command(text, integer, text) IS
    'The RemoteStartTransaction command a new transaction answers to: newest accepted (or in flight) for the charger, tag and connector in the last 5 minutes, not yet linked. Sets transactions.remote_command_id.';
