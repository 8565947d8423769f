-- The readable API: one view per relation, so tables stay private and
-- secrets (password hashes, CSRs) never reach the reader role.

CREATE VIEW ocpp.settings AS
    SELECT key, value, description, updated_at FROM pgcsms.settings;
COMMENT ON VIEW ocpp.settings IS 'Central system settings; change them with ocpp.set_setting(key, value).';

CREATE VIEW ocpp.charge_points AS
    SELECT id, registration_status, description, vendor, model, serial_number, charge_box_serial_number,
           firmware_version, iccid, imsi, meter_type, meter_serial_number, ocpp_version, connected,
           node_id, remote_address, connected_at, disconnected_at, last_seen_at, last_boot_at,
           clock_skew, firmware_status, firmware_status_at, diagnostics_status, diagnostics_status_at,
           ping_interval, created_at, updated_at
      FROM pgcsms.charge_points;
COMMENT ON VIEW ocpp.charge_points IS
    'Charge points: identity, what BootNotification said, registration status (Accepted | Pending | Rejected), connection state. last_seen_at is refreshed at most every few seconds. clock_skew is set while the charger clock is flagged as far off.';

CREATE VIEW ocpp.connectors AS
    SELECT charge_point_id, evse_id, connector_id, status, error_code, info, vendor_id,
           vendor_error_code, status_at, updated_at
      FROM pgcsms.connectors;
COMMENT ON VIEW ocpp.connectors IS
    'Current state of each connector from its latest StatusNotification. OCPP 1.6: evse_id = connector_id = the 1.6 connectorId; 0 is the charge point itself. status_at is the charger time, updated_at ours.';

CREATE VIEW ocpp.status_history AS
    SELECT charge_point_id, id, evse_id, connector_id, status, error_code, info, vendor_id,
           vendor_error_code, charger_at, received_at
      FROM pgcsms.status_history;
COMMENT ON VIEW ocpp.status_history IS 'Every StatusNotification received, with charger time (charger_at) and server receive time (received_at).';

CREATE VIEW ocpp.id_tags AS
    SELECT id_tag, status, expires_at, parent_id_tag, description, created_at, updated_at
      FROM pgcsms.id_tags;
COMMENT ON VIEW ocpp.id_tags IS 'RFID cards and other id tokens. status Accepted | Blocked | Expired | Invalid; a passed expires_at makes an Accepted tag Expired. Manage with ocpp.add_id_tag.';

CREATE VIEW ocpp.transactions AS
    SELECT id, charge_point_id, evse_id, connector_id, id_tag, parent_id_tag, authorization_status,
           reservation_id, meter_start, meter_stop, meter_stop - meter_start AS energy_wh,
           started_at, stopped_at, stopped_at - started_at AS duration, stop_reason, stop_id_tag,
           start_received_at, stop_received_at, remote_id
      FROM pgcsms.transactions;
COMMENT ON VIEW ocpp.transactions IS
    'Charging sessions. id is the transactionId given to the charger; meter_start, meter_stop and energy_wh in Wh; started_at/stopped_at are charger times, *_received_at ours. An open session has stopped_at NULL.';

CREATE VIEW ocpp.meter_values AS
    SELECT transaction_id, charge_point_id, evse_id, connector_id, sampled_at, measurand, phase,
           unit, value, normalized_value, normalized_unit, context, location, format, source,
           transaction_known, received_at, id
      FROM pgcsms.meter_values;
COMMENT ON VIEW ocpp.meter_values IS
    'Every sampled value from MeterValues and StopTransaction.transactionData. value is verbatim; energy and power are also given in normalized_value/normalized_unit (Wh, varh, W, var) so kWh and Wh readings compare. transaction_known is false when the charger named a transaction we do not know.';

CREATE VIEW ocpp.message_log AS
    SELECT charge_point_id, id, direction, message_type, unique_id, action, payload, raw,
           error_code, error_description, error_detail, node_id, at
      FROM pgcsms.message_log;
COMMENT ON VIEW ocpp.message_log IS
    'The journal: every OCPP-J frame in and out. direction in | out; message_type 2 CALL, 3 CALLRESULT, 4 CALLERROR, NULL when the frame could not be read (raw holds it). error_detail is the internal cause of an InternalError, never sent to the charger.';

CREATE VIEW ocpp.anomalies AS
    SELECT charge_point_id, id, kind, unique_id, transaction_id, detail, at, reviewed_at
      FROM pgcsms.anomalies;
COMMENT ON VIEW ocpp.anomalies IS
    'Things to review: unknown_transaction_stop, duplicate_stop, superseded_transaction, clock_skew, unknown_reservation.';

CREATE VIEW ocpp.data_transfers AS
    SELECT charge_point_id, id, direction, vendor_id, message_id, data, status, at
      FROM pgcsms.data_transfers;
COMMENT ON VIEW ocpp.data_transfers IS 'DataTransfer messages and the status they were answered with.';

CREATE VIEW ocpp.data_transfer_vendors AS
    SELECT vendor_id, message_ids, status, description FROM pgcsms.data_transfer_vendors;
COMMENT ON VIEW ocpp.data_transfer_vendors IS
    'Vendors whose DataTransfer we accept: unknown vendor → UnknownVendorId; message_ids set and messageId not in it → UnknownMessageId; else status.';

CREATE VIEW ocpp.job_status_history AS
    SELECT charge_point_id, id, kind, status, request_id, at FROM pgcsms.job_status_history;
COMMENT ON VIEW ocpp.job_status_history IS 'Diagnostics, firmware, log and signed-firmware status notifications, in order.';

CREATE VIEW ocpp.security_events AS
    SELECT charge_point_id, id, type, critical, tech_info, charger_at, received_at FROM pgcsms.security_events;
COMMENT ON VIEW ocpp.security_events IS 'SecurityEventNotification messages; critical per the OCPP 1.6 Security Whitepaper list.';

CREATE VIEW ocpp.reservations AS
    SELECT id, charge_point_id, connector_id, id_tag, parent_id_tag, expires_at, status,
           transaction_id, created_at, updated_at
      FROM pgcsms.reservations;
COMMENT ON VIEW ocpp.reservations IS 'Reservations; a StartTransaction with a reservationId marks its reservation Used.';

CREATE VIEW ocpp.certificate_signing_requests AS
    SELECT charge_point_id, id, csr, status, received_at FROM pgcsms.certificate_signing_requests;
COMMENT ON VIEW ocpp.certificate_signing_requests IS 'CSRs sent with SignCertificate, for an operator to sign. Not readable by pgcsms_reader.';

GRANT SELECT ON ocpp.settings, ocpp.charge_points, ocpp.connectors, ocpp.status_history, ocpp.id_tags,
    ocpp.transactions, ocpp.meter_values, ocpp.message_log, ocpp.anomalies, ocpp.data_transfers,
    ocpp.data_transfer_vendors, ocpp.job_status_history, ocpp.security_events, ocpp.reservations
    TO pgcsms_reader;
GRANT SELECT ON ocpp.certificate_signing_requests TO pgcsms_operator;
