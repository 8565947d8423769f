-- Commands: every CSMS-initiated OCPP 1.6 call is a row of pgcsms.commands,
-- queued by ocpp.send, claimed and sent by the proxy that holds the charger's
-- socket (ocpp.next_command), answered back into the same row
-- (ocpp.complete_command). The other tables keep what the answers say: the
-- charger's configuration, local list, charging profiles, composite
-- schedules, jobs (diagnostics, firmware, logs), certificates, availability.

-- The actions a 1.6 central system may send: the 19 of the core profiles and
-- the 7 of the Security Whitepaper. has_status: the answer carries a status
-- field, which decides accepted or rejected; without one an answer is
-- completed.
CREATE TABLE pgcsms.command_actions (
    action      text PRIMARY KEY,
    has_status  boolean NOT NULL,
    profile     text NOT NULL CHECK (profile IN ('core', 'security')),
    helper      text NOT NULL
);
INSERT INTO pgcsms.command_actions (action, has_status, profile, helper) VALUES
    ('CancelReservation', true, 'core', 'ocpp.cancel_reservation'),
    ('ChangeAvailability', true, 'core', 'ocpp.change_availability'),
    ('ChangeConfiguration', true, 'core', 'ocpp.change_configuration'),
    ('ClearCache', true, 'core', 'ocpp.clear_cache'),
    ('ClearChargingProfile', true, 'core', 'ocpp.clear_charging_profile'),
    ('DataTransfer', true, 'core', 'ocpp.data_transfer'),
    ('GetCompositeSchedule', true, 'core', 'ocpp.get_composite_schedule'),
    ('GetConfiguration', false, 'core', 'ocpp.get_configuration'),
    ('GetDiagnostics', false, 'core', 'ocpp.get_diagnostics'),
    ('GetLocalListVersion', false, 'core', 'ocpp.get_local_list_version'),
    ('RemoteStartTransaction', true, 'core', 'ocpp.remote_start_transaction'),
    ('RemoteStopTransaction', true, 'core', 'ocpp.remote_stop_transaction'),
    ('ReserveNow', true, 'core', 'ocpp.reserve_now'),
    ('Reset', true, 'core', 'ocpp.reset'),
    ('SendLocalList', true, 'core', 'ocpp.send_local_list'),
    ('SetChargingProfile', true, 'core', 'ocpp.set_charging_profile'),
    ('TriggerMessage', true, 'core', 'ocpp.trigger_message'),
    ('UnlockConnector', true, 'core', 'ocpp.unlock_connector'),
    ('UpdateFirmware', false, 'core', 'ocpp.update_firmware'),
    ('CertificateSigned', true, 'security', 'ocpp.certificate_signed'),
    ('DeleteCertificate', true, 'security', 'ocpp.delete_certificate'),
    ('ExtendedTriggerMessage', true, 'security', 'ocpp.extended_trigger_message'),
    ('GetInstalledCertificateIds', true, 'security', 'ocpp.get_installed_certificate_ids'),
    ('GetLog', true, 'security', 'ocpp.get_log'),
    ('InstallCertificate', true, 'security', 'ocpp.install_certificate'),
    ('SignedUpdateFirmware', true, 'security', 'ocpp.signed_update_firmware');

CREATE TABLE pgcsms.commands (
    charge_point_id    text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    action             text NOT NULL REFERENCES pgcsms.command_actions,
    payload            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    status             text NOT NULL DEFAULT 'queued'
                           CHECK (status IN ('queued', 'sent', 'accepted', 'rejected', 'completed', 'failed',
                                             'timeout', 'expired', 'cancelled')),
    unique_id          text,
    node_id            text,
    epoch              bigint,
    response           jsonb,
    error_code         text,
    error_description  text,
    created_by         text NOT NULL DEFAULT session_user,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz,
    sent_at            timestamptz,
    completed_at       timestamptz,
    PRIMARY KEY (charge_point_id, id)
);
CREATE INDEX commands_id ON pgcsms.commands (id);
CREATE INDEX commands_queued ON pgcsms.commands (charge_point_id, id) WHERE status = 'queued';
CREATE INDEX commands_queued_expiry ON pgcsms.commands (expires_at) WHERE status = 'queued' AND expires_at IS NOT NULL;
-- OCPP-J: at most one CALL in flight per charger. The claim in
-- ocpp.next_command already serialises; this index makes it a fact.
CREATE UNIQUE INDEX commands_in_flight ON pgcsms.commands (charge_point_id) WHERE status = 'sent';
CREATE INDEX commands_sent_at ON pgcsms.commands (sent_at) WHERE status = 'sent';
CREATE INDEX commands_recent ON pgcsms.commands (charge_point_id, action, completed_at);

-- The transaction a RemoteStartTransaction led to.
ALTER TABLE pgcsms.transactions ADD COLUMN remote_command_id bigint;
CREATE INDEX transactions_remote_command ON pgcsms.transactions (remote_command_id)
    WHERE remote_command_id IS NOT NULL;

-- The ReserveNow command that made a reservation.
ALTER TABLE pgcsms.reservations ADD COLUMN command_id bigint;

-- DataTransfer we sent: the command and the data the charger answered.
ALTER TABLE pgcsms.data_transfers ADD COLUMN command_id bigint;
ALTER TABLE pgcsms.data_transfers ADD COLUMN response_data text;

-- The job (diagnostics, firmware, log upload) a status notification is about.
ALTER TABLE pgcsms.job_status_history ADD COLUMN job_id bigint;

-- GetConfiguration answers, and ChangeConfiguration accepted. Keys are
-- CiString50: case-insensitive.
CREATE TABLE pgcsms.charger_configuration (
    charge_point_id        text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    key                    text NOT NULL,
    value                  text,
    readonly               boolean,
    unknown                boolean NOT NULL DEFAULT false,
    reboot_required_since  timestamptz,
    command_id             bigint,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX charger_configuration_key ON pgcsms.charger_configuration (charge_point_id, upper(key));

-- The local authorization list of each charger, as far as we know it.
CREATE TABLE pgcsms.local_lists (
    charge_point_id  text PRIMARY KEY REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    list_version     integer,
    command_id       bigint,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE pgcsms.local_list_entries (
    charge_point_id  text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    id_tag           text NOT NULL,
    id_tag_info      jsonb NOT NULL,
    command_id       bigint,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX local_list_entries_tag ON pgcsms.local_list_entries (charge_point_id, upper(id_tag));

-- Charging profiles a charger accepted (SetChargingProfile), until cleared.
-- A chargingProfileId is unique on a charger.
CREATE TABLE pgcsms.charging_profiles (
    charge_point_id      text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    charging_profile_id  integer NOT NULL,
    connector_id         integer NOT NULL,
    stack_level          integer NOT NULL,
    purpose              text NOT NULL,
    kind                 text NOT NULL,
    recurrency_kind      text,
    transaction_id       integer,
    valid_from           timestamptz,
    valid_to             timestamptz,
    charging_schedule    jsonb NOT NULL,
    profile              jsonb NOT NULL,
    command_id           bigint,
    set_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, charging_profile_id)
);

CREATE TABLE pgcsms.composite_schedules (
    charge_point_id     text NOT NULL,
    id                  bigint GENERATED ALWAYS AS IDENTITY,
    command_id          bigint NOT NULL,
    connector_id        integer NOT NULL,
    duration            integer,
    charging_rate_unit  text,
    schedule_start      timestamptz,
    charging_schedule   jsonb,
    received_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

-- Diagnostics uploads, firmware updates and log uploads a charger took on,
-- followed by the status notifications about them.
CREATE TABLE pgcsms.jobs (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    kind             text NOT NULL CHECK (kind IN ('diagnostics', 'firmware', 'log', 'signed_firmware')),
    command_id       bigint NOT NULL,
    request_id       integer,
    location         text,
    file_name        text,
    status           text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    PRIMARY KEY (charge_point_id, id)
);
CREATE INDEX jobs_open ON pgcsms.jobs (charge_point_id, kind, id) WHERE finished_at IS NULL;

-- Certificates on a charger: installed by us (InstallCertificate,
-- CertificateSigned) or reported by it (GetInstalledCertificateIds).
CREATE TABLE pgcsms.installed_certificates (
    charge_point_id   text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    certificate_type  text NOT NULL,
    source            text NOT NULL CHECK (source IN ('installed', 'signed', 'reported')),
    hash_algorithm    text,
    issuer_name_hash  text,
    issuer_key_hash   text,
    serial_number     text,
    certificate       text,
    command_id        bigint,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

-- ChangeAvailability a charger accepted or scheduled.
CREATE TABLE pgcsms.connector_availability (
    charge_point_id  text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    connector_id     integer NOT NULL CHECK (connector_id >= 0),
    availability     text NOT NULL CHECK (availability IN ('Operative', 'Inoperative')),
    scheduled        boolean NOT NULL,
    command_id       bigint,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, connector_id)
);

-- Views: the readable API.

CREATE VIEW ocpp.command_actions AS
    SELECT action, has_status, profile, helper FROM pgcsms.command_actions;
COMMENT ON VIEW ocpp.command_actions IS
    'The actions ocpp.send accepts: the 19 of OCPP 1.6 (profile core) and the 7 of the Security Whitepaper (profile security). has_status: the answer has a status field, so the command ends accepted or rejected; otherwise completed. helper: the function with named arguments that builds its payload.';

CREATE VIEW ocpp.commands AS
    SELECT id, charge_point_id, action, payload,
           CASE WHEN status = 'queued' AND expires_at <= now() THEN 'expired' ELSE status END AS status,
           response, error_code, error_description, created_at, expires_at, sent_at, completed_at,
           unique_id, node_id, created_by
      FROM pgcsms.commands;
COMMENT ON VIEW ocpp.commands IS
    'Commands to charge points, one row each (queue with ocpp.send or a helper such as ocpp.reset; wait for the answer with CALL ocpp.call). status: queued → sent → accepted | rejected (from the answer''s status field: Accepted, RebootRequired, Scheduled, Unlocked and AcceptedCanceled count as accepted) | completed (answered, the answer has no status field) | failed (CALLERROR: error_code, error_description, response = errorDetails; or the payload failed the OCPP schema and was not sent: response NULL) | timeout (no answer within the call_timeout setting, or the connection closed first) | expired (not delivered before expires_at) | cancelled (ocpp.cancel). response is the charger''s CALLRESULT payload. unique_id is the OCPP-J message id, node_id the proxy that sent it.';

CREATE OR REPLACE VIEW ocpp.transactions AS
    SELECT id, charge_point_id, evse_id, connector_id, id_tag, parent_id_tag, authorization_status,
           reservation_id, meter_start, meter_stop, meter_stop - meter_start AS energy_wh,
           started_at, stopped_at, stopped_at - started_at AS duration, stop_reason, stop_id_tag,
           start_received_at, stop_received_at, remote_id, remote_command_id
      FROM pgcsms.transactions;
COMMENT ON VIEW ocpp.transactions IS
    'Charging sessions. id is the transactionId given to the charger; meter_start, meter_stop and energy_wh in Wh; started_at/stopped_at are charger times, *_received_at ours. An open session has stopped_at NULL. remote_command_id: the RemoteStartTransaction (ocpp.commands) that started it, if one did.';

CREATE OR REPLACE VIEW ocpp.reservations AS
    SELECT id, charge_point_id, connector_id, id_tag, parent_id_tag, expires_at,
           CASE WHEN status IN ('Requested', 'Accepted') AND expires_at <= now() THEN 'Expired'
                ELSE status END AS status,
           transaction_id, created_at, updated_at, command_id
      FROM pgcsms.reservations;
COMMENT ON VIEW ocpp.reservations IS
    'Reservations (make one with ocpp.reserve_now). status: Requested (sent, no answer yet), the charger''s answer Accepted | Faulted | Occupied | Rejected | Unavailable, Cancelled (ocpp.cancel_reservation accepted, or the ReserveNow command never delivered), Used (a StartTransaction named it), Expired (expires_at passed before it was used). command_id: the ReserveNow command.';

CREATE OR REPLACE VIEW ocpp.data_transfers AS
    SELECT charge_point_id, id, direction, vendor_id, message_id, data, status, at, command_id, response_data
      FROM pgcsms.data_transfers;
COMMENT ON VIEW ocpp.data_transfers IS
    'DataTransfer messages and the status they were answered with. direction in: sent by the charger, answered by us; out: sent by us (command_id, ocpp.data_transfer), answered by the charger with status and response_data.';

CREATE OR REPLACE VIEW ocpp.job_status_history AS
    SELECT charge_point_id, id, kind, status, request_id, at, job_id FROM pgcsms.job_status_history;
COMMENT ON VIEW ocpp.job_status_history IS
    'Diagnostics, firmware, log and signed-firmware status notifications, in order. job_id: the job (ocpp.jobs) it reports on, when one is open.';

CREATE VIEW ocpp.charger_configuration AS
    SELECT cc.charge_point_id, cc.key, cc.value, cc.readonly, cc.unknown,
           cc.reboot_required_since IS NOT NULL
               AND (cp.last_boot_at IS NULL OR cp.last_boot_at < cc.reboot_required_since) AS reboot_required,
           cc.command_id, cc.updated_at
      FROM pgcsms.charger_configuration AS cc
      JOIN pgcsms.charge_points AS cp ON cp.id = cc.charge_point_id;
COMMENT ON VIEW ocpp.charger_configuration IS
    'Configuration keys of each charger, from GetConfiguration answers (ocpp.get_configuration) and accepted ChangeConfiguration (ocpp.change_configuration). unknown: the charger answered the key as unknownKey. reboot_required: a change answered RebootRequired and the charger has not booted since. command_id: the command that last set the row.';

CREATE VIEW ocpp.local_lists AS
    SELECT ll.charge_point_id, ll.list_version,
           (SELECT count(*) FROM pgcsms.local_list_entries AS e WHERE e.charge_point_id = ll.charge_point_id) AS entries,
           ll.command_id, ll.updated_at
      FROM pgcsms.local_lists AS ll;
COMMENT ON VIEW ocpp.local_lists IS
    'Local authorization list version of each charger: from SendLocalList accepted (ocpp.send_local_list) or reported by GetLocalListVersion (0: empty, -1: not supported). entries: the tags of ocpp.local_list_entries.';

CREATE VIEW ocpp.local_list_entries AS
    SELECT charge_point_id, id_tag, id_tag_info, command_id, updated_at FROM pgcsms.local_list_entries;
COMMENT ON VIEW ocpp.local_list_entries IS
    'The tags on each charger''s local authorization list, as sent with SendLocalList and accepted.';

CREATE VIEW ocpp.charging_profiles AS
    SELECT charge_point_id, connector_id, charging_profile_id, stack_level, purpose, kind, recurrency_kind,
           transaction_id, valid_from, valid_to, charging_schedule, profile, command_id, set_at
      FROM pgcsms.charging_profiles;
COMMENT ON VIEW ocpp.charging_profiles IS
    'Charging profiles each charger accepted (ocpp.set_charging_profile), per connector (0: the whole charge point); a profile with the same chargingProfileId, or the same stack level and purpose on the connector, replaces the one before; ClearChargingProfile accepted removes the matching ones. A TxProfile lasts as long as its transaction on the charger.';

CREATE VIEW ocpp.composite_schedules AS
    SELECT charge_point_id, id, command_id, connector_id, duration, charging_rate_unit, schedule_start,
           charging_schedule, received_at
      FROM pgcsms.composite_schedules;
COMMENT ON VIEW ocpp.composite_schedules IS
    'Composite schedules reported by chargers (ocpp.get_composite_schedule answered Accepted), newest last.';

CREATE VIEW ocpp.jobs AS
    SELECT charge_point_id, id, kind, command_id, request_id, location, file_name, status,
           created_at, updated_at, finished_at
      FROM pgcsms.jobs;
COMMENT ON VIEW ocpp.jobs IS
    'Jobs a charger took on: kind diagnostics (GetDiagnostics), firmware (UpdateFirmware), log (GetLog), signed_firmware (SignedUpdateFirmware). status is Accepted when answered, then the status of each notification about it (ocpp.job_status_history): log and signed_firmware notifications by requestId, the others to the newest open job of the kind. finished_at is set by a final status, or Superseded/Canceled when a newer job replaced it.';

CREATE VIEW ocpp.installed_certificates AS
    SELECT charge_point_id, id, certificate_type, source, hash_algorithm, issuer_name_hash, issuer_key_hash,
           serial_number, certificate, command_id, updated_at
      FROM pgcsms.installed_certificates;
COMMENT ON VIEW ocpp.installed_certificates IS
    'Certificates on each charger. source installed: InstallCertificate accepted (certificate holds the PEM, no hash data); signed: CertificateSigned accepted (certificate_type ChargePointCertificate); reported: listed by GetInstalledCertificateIds, which replaces the reported rows of its type. DeleteCertificate accepted removes the rows with its hash data.';

CREATE VIEW ocpp.connector_availability AS
    SELECT a.charge_point_id, a.connector_id, a.availability, a.scheduled, c.status AS connector_status,
           a.command_id, a.updated_at
      FROM pgcsms.connector_availability AS a
      LEFT JOIN pgcsms.connectors AS c
        ON c.charge_point_id = a.charge_point_id AND c.evse_id = a.connector_id AND c.connector_id = a.connector_id;
COMMENT ON VIEW ocpp.connector_availability IS
    'Availability set with ChangeAvailability (ocpp.change_availability): Operative or Inoperative, scheduled when the charger answered Scheduled (it changes once the running transaction ends). connector_status: the connector''s latest StatusNotification. Connector 0 is the whole charge point.';

GRANT SELECT ON ocpp.command_actions, ocpp.commands, ocpp.charger_configuration, ocpp.local_lists,
    ocpp.local_list_entries, ocpp.charging_profiles, ocpp.composite_schedules, ocpp.jobs,
    ocpp.installed_certificates, ocpp.connector_availability
    TO pgcsms_reader;

COMMENT ON VIEW ocpp.anomalies IS
    'Things to review: unknown_transaction_stop, duplicate_stop, superseded_transaction, clock_skew, unknown_reservation, command_effect_failed (an answered command whose business effect failed; the answer itself is in ocpp.commands).';
