-- OCPP 2.0.1 provisioning (functional block B): BootNotification,
-- Heartbeat, and what an accepted SetNetworkProfile changes. The registration
-- rules are 1.6's (ocpp._boot, ocpp._registration in ocpp._dispatch).

CREATE OR REPLACE FUNCTION ocpp.v201_boot_notification(charge_point_id text, unique_id text, payload jsonb,
                                                       ocpp_version text)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp._boot(
        charge_point_id, ocpp_version,
        reason => payload->>'reason',
        vendor => payload->'chargingStation'->>'vendorName',
        model => payload->'chargingStation'->>'model',
        serial_number => payload->'chargingStation'->>'serialNumber',
        firmware_version => payload->'chargingStation'->>'firmwareVersion',
        iccid => payload->'chargingStation'->'modem'->>'iccid',
        imsi => payload->'chargingStation'->'modem'->>'imsi')
$$;
COMMENT ON FUNCTION ocpp.v201_boot_notification(text, text, jsonb, text) IS
    'BootNotification (2.0.1 and 2.1, its ocpp_version in the boot event): records the station (chargingStation vendorName, model, serialNumber, firmwareVersion, modem iccid and imsi) and the boot reason; answers {currentTime, interval, status} by the rules every version shares (ocpp._boot): its registration status, heartbeat_interval when Accepted, pending_retry_interval when Pending or Rejected. Accepted wakes the delivery of commands that waited while it was Pending.';

CREATE OR REPLACE FUNCTION ocpp.v201_boot_notification(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp.v201_boot_notification(charge_point_id, unique_id, payload, '2.0.1')
$$;
COMMENT ON FUNCTION ocpp.v201_boot_notification(text, text, jsonb) IS
    'BootNotification of a 2.0.1 station: ocpp.v201_boot_notification(..., ''2.0.1''), under the signature it had before 2.1.';

CREATE OR REPLACE FUNCTION ocpp.v201_heartbeat(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp.on_heartbeat(charge_point_id, unique_id, payload)
$$;
COMMENT ON FUNCTION ocpp.v201_heartbeat(text, text, jsonb) IS
    'Heartbeat (2.0.1): answers {currentTime}, as in 1.6 (ocpp.on_heartbeat).';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_set_network_profile(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    -- c.payload has the APN and VPN passwords redacted already (ocpp._redact_secrets).
    INSERT INTO pgcsms.network_profiles AS p
        (charge_point_id, configuration_slot, ocpp_csms_url, security_profile, ocpp_interface, ocpp_transport,
         ocpp_version, message_timeout, apn, vpn, command_id)
    SELECT c.charge_point_id, (c.payload->>'configurationSlot')::integer, d->>'ocppCsmsUrl',
           (d->>'securityProfile')::integer, d->>'ocppInterface', d->>'ocppTransport', d->>'ocppVersion',
           (d->>'messageTimeout')::integer, d->'apn', d->'vpn', c.id
      FROM (SELECT c.payload->'connectionData' AS d) AS x
     WHERE c.status = 'accepted'
    ON CONFLICT (charge_point_id, configuration_slot) DO UPDATE
       SET ocpp_csms_url = excluded.ocpp_csms_url, security_profile = excluded.security_profile,
           ocpp_interface = excluded.ocpp_interface, ocpp_transport = excluded.ocpp_transport,
           ocpp_version = excluded.ocpp_version, message_timeout = excluded.message_timeout, apn = excluded.apn,
           vpn = excluded.vpn, command_id = excluded.command_id, updated_at = now()
;
    -- A05: a higher security profile is an upgrade the station makes when it
    -- next connects through this profile; until then its current one holds.
    SELECT ocpp._upgrade_security_profile(c.charge_point_id, (c.payload->'connectionData'->>'securityProfile')::integer)
     WHERE c.status = 'accepted'
$$;
COMMENT ON FUNCTION ocpp._v201_effect_set_network_profile(pgcsms.commands) IS
    'SetNetworkProfile answered Accepted: the profile of its configuration slot in ocpp.network_profiles (passwords redacted), and a higher securityProfile becomes the station''s, its current one accepted until it connects with the new (A05, ocpp._upgrade_security_profile). Rejected and Failed change nothing; the answer stays in the command.';
