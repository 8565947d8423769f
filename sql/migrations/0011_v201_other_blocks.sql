-- OCPP 2.0.1 beside 1.6 for smart charging (K), firmware (L), certificates
-- (M), logs and customer information (N), display messages (O), data transfer
-- (P), security events and certificate signing (A) and cost (I). The 1.6
-- tables take 2.0.1's shapes (an EVSE instead of a connector, a transaction
-- named by the station, a publish job); what 2.0.1 alone has gets tables of
-- its own. The rules live in sql/functions/ (shared) and sql/functions/v201/.

-- Charging profiles and composite schedules belong to an EVSE. OCPP 1.6 rows
-- keep their connectorId in both columns (0001's convention); 2.0.1 rows have
-- no connector. A 2.0.1 TxProfile names its transaction by the station's
-- transactionId (pgcsms.transactions.remote_id), a 1.6 one by our id.
ALTER TABLE pgcsms.charging_profiles ADD COLUMN evse_id integer, ADD COLUMN transaction_remote_id text;
UPDATE pgcsms.charging_profiles SET evse_id = connector_id;
ALTER TABLE pgcsms.charging_profiles ALTER COLUMN evse_id SET NOT NULL, ALTER COLUMN connector_id DROP NOT NULL;

ALTER TABLE pgcsms.composite_schedules ADD COLUMN evse_id integer;
UPDATE pgcsms.composite_schedules SET evse_id = connector_id;
ALTER TABLE pgcsms.composite_schedules ALTER COLUMN evse_id SET NOT NULL, ALTER COLUMN connector_id DROP NOT NULL;

-- What ends with a transaction, whichever version ended it (on_stop_transaction
-- for 1.6; TransactionEvent Ended for 2.0.1): its TxProfiles and its display
-- messages. Triggers, so the rule needs nothing of the handler but the row.
-- The bodies are in sql/functions/command_effect_charging.sql and
-- sql/functions/v201/display_messages.sql; these stand in until they apply.
CREATE OR REPLACE FUNCTION ocpp._end_transaction_profiles() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION ocpp._end_transaction_messages() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER transactions_end_profiles AFTER UPDATE OF stopped_at ON pgcsms.transactions
    FOR EACH ROW WHEN (old.stopped_at IS NULL AND new.stopped_at IS NOT NULL)
    EXECUTE FUNCTION ocpp._end_transaction_profiles();
CREATE TRIGGER transactions_end_display_messages AFTER UPDATE OF stopped_at ON pgcsms.transactions
    FOR EACH ROW WHEN (old.stopped_at IS NULL AND new.stopped_at IS NOT NULL AND new.remote_id IS NOT NULL)
    EXECUTE FUNCTION ocpp._end_transaction_messages();

-- Profiles a station reported (ReportChargingProfiles), set by us or by
-- others (chargingLimitSource EMS, SO, ...), page by page, each linked to the
-- GetChargingProfiles command whose requestId it answers.
CREATE TABLE pgcsms.reported_charging_profiles (
    charge_point_id        text NOT NULL,
    id                     bigint GENERATED ALWAYS AS IDENTITY,
    request_id             integer NOT NULL,
    command_id             bigint,
    evse_id                integer NOT NULL,
    charging_limit_source  text NOT NULL,
    charging_profile_id    integer NOT NULL,
    stack_level            integer NOT NULL,
    purpose                text NOT NULL,
    kind                   text NOT NULL,
    recurrency_kind        text,
    transaction_remote_id  text,
    valid_from             timestamptz,
    valid_to               timestamptz,
    charging_schedule      jsonb NOT NULL,
    profile                jsonb NOT NULL,
    tbc                    boolean NOT NULL,
    unique_id              text NOT NULL,
    received_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
CREATE INDEX ON pgcsms.reported_charging_profiles (charge_point_id, request_id);

-- External limits (NotifyChargingLimit) in force, per EVSE (0: the whole
-- station) and source, until ClearedChargingLimit.
CREATE TABLE pgcsms.charging_limits (
    charge_point_id        text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    evse_id                integer NOT NULL CHECK (evse_id >= 0),
    charging_limit_source  text NOT NULL,
    is_grid_critical       boolean,
    charging_schedule      jsonb,
    unique_id              text NOT NULL,
    notified_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, evse_id, charging_limit_source)
);

-- ISO 15118: what an EV asked for (NotifyEVChargingNeeds) and the schedule it
-- chose (NotifyEVChargingSchedule), with what we answered.
CREATE TABLE pgcsms.ev_charging_needs (
    charge_point_id            text NOT NULL,
    id                         bigint GENERATED ALWAYS AS IDENTITY,
    evse_id                    integer NOT NULL,
    requested_energy_transfer  text NOT NULL,
    departure_time             timestamptz,
    charging_needs             jsonb NOT NULL,
    max_schedule_tuples        integer,
    status                     text NOT NULL,
    unique_id                  text NOT NULL,
    received_at                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
CREATE TABLE pgcsms.ev_charging_schedules (
    charge_point_id    text NOT NULL,
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    evse_id            integer NOT NULL,
    time_base          timestamptz NOT NULL,
    charging_schedule  jsonb NOT NULL,
    status             text NOT NULL,
    unique_id          text NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

-- Jobs: 2.0.1 firmware updates and log uploads are the 1.6 kinds (followed by
-- requestId); publishing firmware on a local controller is a new kind, known by
-- its checksum, and its notifications say where it is published.
ALTER TABLE pgcsms.jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE pgcsms.jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('diagnostics', 'firmware', 'log', 'signed_firmware', 'publish_firmware'));
ALTER TABLE pgcsms.jobs ADD COLUMN checksum text, ADD COLUMN published_locations text[];
ALTER TABLE pgcsms.job_status_history DROP CONSTRAINT job_status_history_kind_check;
ALTER TABLE pgcsms.job_status_history ADD CONSTRAINT job_status_history_kind_check
    CHECK (kind IN ('diagnostics', 'firmware', 'log', 'signed_firmware', 'publish_firmware'));
ALTER TABLE pgcsms.job_status_history ADD COLUMN locations text[];

-- requestIds for the commands that need one (UpdateFirmware, PublishFirmware,
-- GetChargingProfiles, GetDisplayMessages, CustomerInformation) when the
-- caller gives none: unique across stations, within int32.
CREATE SEQUENCE IF NOT EXISTS pgcsms.request_ids AS integer CYCLE;

-- Security events are named and flagged critical per version: 2.0.1 renamed
-- some (FailedToAuthenticateAtCsms) and flags others critical (Appendix 1 of
-- part 2, v1.3, with errata 2023-06 §2.18.1 for the InvalidFirmware* pair).
ALTER TABLE pgcsms.security_event_types ADD COLUMN ocpp_version text NOT NULL DEFAULT '1.6';
ALTER TABLE pgcsms.security_event_types ALTER COLUMN ocpp_version DROP DEFAULT;
ALTER TABLE pgcsms.security_event_types DROP CONSTRAINT security_event_types_pkey;
ALTER TABLE pgcsms.security_event_types ADD PRIMARY KEY (ocpp_version, type);
INSERT INTO pgcsms.security_event_types (ocpp_version, type, critical) VALUES
    ('2.0.1', 'FirmwareUpdated', true), ('2.0.1', 'FailedToAuthenticateAtCsms', false),
    ('2.0.1', 'CsmsFailedToAuthenticate', false), ('2.0.1', 'SettingSystemTime', true),
    ('2.0.1', 'StartupOfTheDevice', true), ('2.0.1', 'ResetOrReboot', true),
    ('2.0.1', 'SecurityLogWasCleared', true), ('2.0.1', 'ReconfigurationOfSecurityParameters', false),
    ('2.0.1', 'MemoryExhaustion', true), ('2.0.1', 'InvalidMessages', false),
    ('2.0.1', 'AttemptedReplayAttacks', false), ('2.0.1', 'TamperDetectionActivated', true),
    ('2.0.1', 'InvalidFirmwareSignature', true), ('2.0.1', 'InvalidFirmwareSigningCertificate', true),
    ('2.0.1', 'InvalidCsmsCertificate', true), ('2.0.1', 'InvalidChargingStationCertificate', true),
    ('2.0.1', 'InvalidTLSVersion', true), ('2.0.1', 'InvalidTLSCipherSuite', true),
    ('2.0.1', 'MaintenanceLoginAccepted', true), ('2.0.1', 'MaintenanceLoginFailed', true);

-- Certificates: a 2.0.1 CSR says which certificate it is for (NULL: both);
-- a reported V2G chain lists its sub-CA certificates under the leaf.
ALTER TABLE pgcsms.certificate_signing_requests ADD COLUMN certificate_type text;
ALTER TABLE pgcsms.installed_certificates ADD COLUMN parent_id bigint;

-- ISO 15118 contract certificates (Get15118EVCertificate): pgcsms has no V2G
-- PKI, so requests are kept (they hold the EV's provisioning certificate:
-- operators only) and answered Failed.
CREATE TABLE pgcsms.ev_certificate_requests (
    charge_point_id          text NOT NULL,
    id                       bigint GENERATED ALWAYS AS IDENTITY,
    iso15118_schema_version  text NOT NULL,
    action                   text NOT NULL,
    exi_request              text NOT NULL,
    status                   text NOT NULL,
    unique_id                text NOT NULL,
    received_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

-- OCSP answers for GetCertificateStatus, kept by an operator or an
-- integration that asks the responders (pgcsms makes no outbound calls).
-- Certificates are named by hash data; hashes are hex, compared ignoring case.
CREATE TABLE pgcsms.certificate_statuses (
    hash_algorithm    text NOT NULL,
    issuer_name_hash  text NOT NULL,
    issuer_key_hash   text NOT NULL,
    serial_number     text NOT NULL,
    status            text NOT NULL CHECK (status IN ('Good', 'Revoked', 'Unknown')),
    ocsp_result       text,
    valid_until       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX certificate_statuses_certificate ON pgcsms.certificate_statuses
    (hash_algorithm, upper(issuer_name_hash), upper(issuer_key_hash), upper(serial_number));

CREATE TABLE pgcsms.certificate_status_requests (
    charge_point_id   text NOT NULL,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    hash_algorithm    text NOT NULL,
    issuer_name_hash  text NOT NULL,
    issuer_key_hash   text NOT NULL,
    serial_number     text NOT NULL,
    responder_url     text NOT NULL,
    status            text NOT NULL,
    unique_id         text NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

-- Display messages on each station as far as we know them: set by us
-- (SetDisplayMessage accepted) or reported (NotifyDisplayMessages).
CREATE TABLE pgcsms.display_messages (
    charge_point_id        text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    message_id             integer NOT NULL,
    priority               text NOT NULL,
    state                  text,
    start_at               timestamptz,
    end_at                 timestamptz,
    transaction_remote_id  text,
    format                 text NOT NULL,
    language               text,
    content                text NOT NULL,
    display                jsonb,
    message                jsonb NOT NULL,
    source                 text NOT NULL CHECK (source IN ('set', 'reported')),
    request_id             integer,
    command_id             bigint,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, message_id)
);

-- What a station reported about a customer (NotifyCustomerInformation), page
-- by page, linked to the CustomerInformation command of its requestId.
CREATE TABLE pgcsms.customer_information (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    request_id       integer NOT NULL,
    command_id       bigint,
    seq_no           integer NOT NULL,
    tbc              boolean NOT NULL,
    data             text NOT NULL,
    generated_at     timestamptz NOT NULL,
    unique_id        text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
CREATE INDEX ON pgcsms.customer_information (charge_point_id, request_id, seq_no);

-- The helpers of the 2.0.1 commands in this block (sql/functions/command_helpers.sql
-- serves 1.6 and 2.0.1 under one name; sql/functions/v201/command_helpers_other.sql).
INSERT INTO pgcsms.command_actions (ocpp_version, action, helper) VALUES
    ('2.0.1', 'SetChargingProfile', 'ocpp.set_charging_profile'),
    ('2.0.1', 'ClearChargingProfile', 'ocpp.clear_charging_profile'),
    ('2.0.1', 'GetCompositeSchedule', 'ocpp.get_composite_schedule'),
    ('2.0.1', 'GetChargingProfiles', 'ocpp.get_charging_profiles'),
    ('2.0.1', 'UpdateFirmware', 'ocpp.update_firmware'),
    ('2.0.1', 'PublishFirmware', 'ocpp.publish_firmware'),
    ('2.0.1', 'UnpublishFirmware', 'ocpp.unpublish_firmware'),
    ('2.0.1', 'GetLog', 'ocpp.get_log'),
    ('2.0.1', 'InstallCertificate', 'ocpp.install_certificate'),
    ('2.0.1', 'CertificateSigned', 'ocpp.certificate_signed'),
    ('2.0.1', 'DeleteCertificate', 'ocpp.delete_certificate'),
    ('2.0.1', 'GetInstalledCertificateIds', 'ocpp.get_installed_certificate_ids'),
    ('2.0.1', 'SetDisplayMessage', 'ocpp.set_display_message'),
    ('2.0.1', 'GetDisplayMessages', 'ocpp.get_display_messages'),
    ('2.0.1', 'ClearDisplayMessage', 'ocpp.clear_display_message'),
    ('2.0.1', 'CustomerInformation', 'ocpp.customer_information'),
    ('2.0.1', 'CostUpdated', 'ocpp.cost_updated'),
    ('2.0.1', 'DataTransfer', 'ocpp.data_transfer')
ON CONFLICT (ocpp_version, action) DO NOTHING;

-- One helper serves both versions under its 1.6 name, with the 2.0.1 fields
-- as new trailing arguments: the old signatures go (sql/functions/command_helpers.sql
-- creates the new ones), so no call is ambiguous.
DROP FUNCTION IF EXISTS ocpp.set_charging_profile(text, integer, jsonb, timestamptz);
DROP FUNCTION IF EXISTS ocpp.clear_charging_profile(text, integer, integer, text, integer, timestamptz);
DROP FUNCTION IF EXISTS ocpp.get_composite_schedule(text, integer, integer, text, timestamptz);
DROP FUNCTION IF EXISTS ocpp.update_firmware(text, text, timestamptz, integer, integer, timestamptz);
DROP FUNCTION IF EXISTS ocpp.certificate_signed(text, text, timestamptz);
DROP FUNCTION IF EXISTS ocpp.get_installed_certificate_ids(text, text, timestamptz);
DROP FUNCTION IF EXISTS ocpp.data_transfer(text, text, text, text, timestamptz);

-- Views: the columns before, then the new ones at the end.

CREATE OR REPLACE VIEW ocpp.charging_profiles AS
    SELECT charge_point_id, connector_id, charging_profile_id, stack_level, purpose, kind, recurrency_kind,
           transaction_id, valid_from, valid_to, charging_schedule, profile, command_id, set_at,
           evse_id, transaction_remote_id
      FROM pgcsms.charging_profiles;
COMMENT ON VIEW ocpp.charging_profiles IS
    'Charging profiles each charger accepted (ocpp.set_charging_profile), per EVSE (evse_id; 0: the whole charge point). OCPP 1.6: connector_id = evse_id = the connectorId, transaction_id = the transactionId (ocpp.transactions.id), charging_schedule one schedule; a profile with the same chargingProfileId, or the same stack level and purpose on the connector, replaces the one before. OCPP 2.0.1: connector_id NULL, transaction_remote_id = the station''s transactionId (ocpp.transactions.remote_id), charging_schedule the array of schedules; a profile with the same id replaces the one before. ClearChargingProfile accepted removes the matching ones. A TxProfile lasts as long as its transaction on the charger.';

CREATE OR REPLACE VIEW ocpp.composite_schedules AS
    SELECT charge_point_id, id, command_id, connector_id, duration, charging_rate_unit, schedule_start,
           charging_schedule, received_at, evse_id
      FROM pgcsms.composite_schedules;
COMMENT ON VIEW ocpp.composite_schedules IS
    'Composite schedules reported by chargers (ocpp.get_composite_schedule answered Accepted), newest last, per EVSE (evse_id; OCPP 1.6: connector_id = evse_id). charging_schedule: 1.6 the chargingSchedule, 2.0.1 the CompositeScheduleType.';

CREATE OR REPLACE VIEW ocpp.jobs AS
    SELECT charge_point_id, id, kind, command_id, request_id, location, file_name, status,
           created_at, updated_at, finished_at, checksum, published_locations
      FROM pgcsms.jobs;
COMMENT ON VIEW ocpp.jobs IS
    'Jobs a charger took on: kind diagnostics (GetDiagnostics), firmware (UpdateFirmware), log (GetLog), signed_firmware (SignedUpdateFirmware), publish_firmware (OCPP 2.0.1 PublishFirmware on a local controller: checksum, and the published_locations its notification gave). status is Accepted when answered, then the status of each notification about it (ocpp.job_status_history): by requestId when the notification has one, else to the newest open job of the kind; UnpublishFirmware answered Unpublished makes a publish job Unpublished. finished_at is set by a final status, or Superseded/Canceled when a newer job replaced it.';

CREATE OR REPLACE VIEW ocpp.job_status_history AS
    SELECT charge_point_id, id, kind, status, request_id, at, job_id, locations FROM pgcsms.job_status_history;
COMMENT ON VIEW ocpp.job_status_history IS
    'Diagnostics, firmware, log, signed-firmware and publish-firmware status notifications, in order. job_id: the job (ocpp.jobs) it reports on, when one is open. locations: where PublishFirmwareStatusNotification says the firmware is published.';

CREATE OR REPLACE VIEW ocpp.installed_certificates AS
    SELECT charge_point_id, id, certificate_type, source, hash_algorithm, issuer_name_hash, issuer_key_hash,
           serial_number, certificate, command_id, updated_at, parent_id
      FROM pgcsms.installed_certificates;
COMMENT ON VIEW ocpp.installed_certificates IS
    'Certificates on each charger. source installed: InstallCertificate accepted (certificate holds the PEM, no hash data); signed: CertificateSigned accepted (certificate_type ChargePointCertificate in 1.6, ChargingStationCertificate or V2GCertificate in 2.0.1); reported: listed by GetInstalledCertificateIds, which replaces the reported rows of the types asked for (2.0.1 asking for none: of every type); parent_id: for a 2.0.1 child certificate (a sub-CA of a V2G chain), the row of its leaf. DeleteCertificate accepted removes the rows with its hash data.';

CREATE OR REPLACE VIEW ocpp.certificate_signing_requests AS
    SELECT charge_point_id, id, csr, status, received_at, certificate_type FROM pgcsms.certificate_signing_requests;
COMMENT ON VIEW ocpp.certificate_signing_requests IS
    'CSRs sent with SignCertificate, for an operator to sign (ocpp.certificate_signed). certificate_type: ChargePointCertificate (1.6), ChargingStationCertificate or V2GCertificate (2.0.1; NULL: for both). Not readable by pgcsms_reader.';

CREATE VIEW ocpp.reported_charging_profiles AS
    SELECT charge_point_id, id, request_id, command_id, evse_id, charging_limit_source, charging_profile_id,
           stack_level, purpose, kind, recurrency_kind, transaction_remote_id, valid_from, valid_to,
           charging_schedule, profile, tbc, received_at
      FROM pgcsms.reported_charging_profiles;
COMMENT ON VIEW ocpp.reported_charging_profiles IS
    'Charging profiles an OCPP 2.0.1 station reported with ReportChargingProfiles, whoever set them (charging_limit_source CSO: us, EMS, SO, Other), one row per profile. request_id and command_id: the GetChargingProfiles (ocpp.get_charging_profiles) they answer; the report of a request is complete once a row with tbc false arrived.';

CREATE VIEW ocpp.charging_limits AS
    SELECT charge_point_id, evse_id, charging_limit_source, is_grid_critical, charging_schedule, notified_at
      FROM pgcsms.charging_limits;
COMMENT ON VIEW ocpp.charging_limits IS
    'External charging limits in force on OCPP 2.0.1 stations (NotifyChargingLimit): per EVSE (0: the whole station) and source (EMS, SO, CSO, Other), with the schedules the station gave, until ClearedChargingLimit.';

CREATE VIEW ocpp.ev_charging_needs AS
    SELECT charge_point_id, id, evse_id, requested_energy_transfer, departure_time, charging_needs,
           max_schedule_tuples, status, received_at
      FROM pgcsms.ev_charging_needs;
COMMENT ON VIEW ocpp.ev_charging_needs IS
    'What ISO 15118 EVs asked for (NotifyEVChargingNeeds): energy transfer mode, departure time, the AC or DC parameters (charging_needs), and our answer (status Accepted: send the schedule with ocpp.set_charging_profile, a TxProfile for the EVSE''s transaction).';

CREATE VIEW ocpp.ev_charging_schedules AS
    SELECT charge_point_id, id, evse_id, time_base, charging_schedule, status, received_at
      FROM pgcsms.ev_charging_schedules;
COMMENT ON VIEW ocpp.ev_charging_schedules IS
    'The charging schedules ISO 15118 EVs chose within our limits (NotifyEVChargingSchedule), from time_base, and our answer.';

CREATE VIEW ocpp.ev_certificate_requests AS
    SELECT charge_point_id, id, iso15118_schema_version, action, exi_request, status, received_at
      FROM pgcsms.ev_certificate_requests;
COMMENT ON VIEW ocpp.ev_certificate_requests IS
    'ISO 15118 contract certificate requests (Get15118EVCertificate, action Install or Update; exi_request the base64 EXI CertificateInstallationReq/CertificateUpdateReq). pgcsms has no V2G PKI nor contract certificate pool: each is answered Failed (status). Readable by pgcsms_operator only.';

CREATE VIEW ocpp.certificate_statuses AS
    SELECT hash_algorithm, issuer_name_hash, issuer_key_hash, serial_number, status, ocsp_result IS NOT NULL AS has_ocsp_result,
           valid_until, updated_at
      FROM pgcsms.certificate_statuses;
COMMENT ON VIEW ocpp.certificate_statuses IS
    'OCSP statuses of certificates, kept by an operator or integration with ocpp.set_certificate_status, from which GetCertificateStatus is answered: Accepted with the stored OCSP response while it is valid, else Failed. status Good | Revoked | Unknown is what the OCSP response says.';

CREATE VIEW ocpp.certificate_status_requests AS
    SELECT charge_point_id, id, hash_algorithm, issuer_name_hash, issuer_key_hash, serial_number, responder_url,
           status, received_at
      FROM pgcsms.certificate_status_requests;
COMMENT ON VIEW ocpp.certificate_status_requests IS
    'GetCertificateStatus requests (the certificate''s hash data and its OCSP responder) and our answer: Accepted when ocpp.certificate_statuses had a valid OCSP response, else Failed. An integration can fetch what failed from responder_url and store it with ocpp.set_certificate_status for the next request.';

CREATE VIEW ocpp.display_messages AS
    SELECT charge_point_id, message_id, priority, state, start_at, end_at, transaction_remote_id, format, language,
           content, display, message, source, request_id, command_id, updated_at
      FROM pgcsms.display_messages;
COMMENT ON VIEW ocpp.display_messages IS
    'Display messages on each OCPP 2.0.1 station as far as we know: source set (SetDisplayMessage accepted, ocpp.set_display_message; command_id) or reported (NotifyDisplayMessages answering ocpp.get_display_messages; request_id, command_id). ClearDisplayMessage accepted (or Unknown) removes one; a message of a transaction (transaction_remote_id = ocpp.transactions.remote_id) goes when the transaction ends; a report of every message replaces those it no longer lists.';

CREATE VIEW ocpp.customer_information AS
    SELECT charge_point_id, id, request_id, command_id, seq_no, tbc, data, generated_at, received_at
      FROM pgcsms.customer_information;
COMMENT ON VIEW ocpp.customer_information IS
    'What OCPP 2.0.1 stations reported about a customer (NotifyCustomerInformation), page by page (seq_no from 0; complete when a page with tbc false arrived), linked to the CustomerInformation command (ocpp.customer_information) of its request_id. Personal data: readable by pgcsms_operator only.';

GRANT SELECT ON ocpp.reported_charging_profiles, ocpp.charging_limits, ocpp.ev_charging_needs,
    ocpp.ev_charging_schedules, ocpp.certificate_statuses, ocpp.certificate_status_requests, ocpp.display_messages
    TO pgcsms_reader;
GRANT SELECT ON ocpp.ev_certificate_requests, ocpp.customer_information TO pgcsms_operator;
