-- OCPP 2.1 beside 2.0.1 and 1.6 (tariffs and cost are 0016's). 2.1 is 2.0.1
-- extended: its stations go through the 2.0.1 handlers for the messages both
-- have, which now record the version they were called for, and through
-- handlers of their own (sql/functions/v21/) for the twelve new station
-- messages; the new commands have helpers and effects there too. OCPP-J 2.1
-- adds two message types, SEND (6, unconfirmed) and CALLRESULTERROR (5).

-- The journal keeps them.
ALTER TABLE pgcsms.message_log DROP CONSTRAINT message_log_message_type_check;
ALTER TABLE pgcsms.message_log ADD CONSTRAINT message_log_message_type_check
    CHECK (message_type IN (2, 3, 4, 5, 6));
COMMENT ON VIEW ocpp.message_log IS
    'The journal: every OCPP-J frame in and out. direction in | out; message_type 2 CALL, 3 CALLRESULT, 4 CALLERROR, 5 CALLRESULTERROR and 6 SEND (OCPP 2.1), NULL when the frame could not be read or its type is unknown (raw holds it). A SEND is never answered: its row alone, with error_code and error_description when it was refused or its handler failed. A CALLRESULTERROR in says the station could not process our CALLRESULT with that unique_id (or, for a command in flight, fails it); out, that we could not process its CALLRESULT to our command. error_detail is the internal cause of an InternalError (or of a value refused as out of range), never sent to the charger. The csr of SignCertificate payloads is shown to pgcsms_operator only.';

-- The catalog says how each action travels: as a CALL (2), answered, or as a
-- SEND (6), never answered (OCPP 2.1 NotifyPeriodicEventStream: a request
-- schema and no response schema). pgcsms migrate fills it (proxy/catalog.py).
ALTER TABLE pgcsms.protocol_actions
    ADD COLUMN message_type smallint NOT NULL DEFAULT 2 CHECK (message_type IN (2, 6));
CREATE OR REPLACE VIEW ocpp.protocol_actions AS
    SELECT ocpp_version, action, sent_by, answer_has_status, message_type FROM pgcsms.protocol_actions;
COMMENT ON VIEW ocpp.protocol_actions IS
    'Every action of every served OCPP version and who sends it (ChargingStation or CSMS; DataTransfer both), derived from the ocpp package''s schema files by pgcsms migrate. message_type: 2 for a CALL, answered (answer_has_status: the answer has a status field); 6 for an unconfirmed OCPP 2.1 SEND, never answered.';

-- ocpp.parse takes SENDs too (message_type); the 2.0.1 dispatcher and the
-- handlers that record a version are called with the station's (2.0.1 or
-- 2.1). Their new signatures are created by sql/functions/.
DROP FUNCTION IF EXISTS ocpp.parse(text, text, text, jsonb, text, text);
DROP FUNCTION IF EXISTS ocpp._dispatch_v201(text, text, text, jsonb);
DROP FUNCTION IF EXISTS ocpp.v201_transaction_event(text, text, jsonb);
DROP FUNCTION IF EXISTS ocpp.v201_meter_values(text, text, jsonb);
DROP FUNCTION IF EXISTS ocpp.v201_status_notification(text, text, jsonb);
DROP FUNCTION IF EXISTS ocpp.v201_notify_event(text, text, jsonb);
DROP FUNCTION IF EXISTS ocpp.v201_security_event_notification(text, text, jsonb);

-- Security events of OCPP 2.1 (Part 2 appendix 1, v2.0): 2.0.1's and
-- DiscardedRenewedClientCertificate, critical ones pushed to the CSMS.
INSERT INTO pgcsms.security_event_types (ocpp_version, type, critical) VALUES
    ('2.1', 'FirmwareUpdated', true), ('2.1', 'FailedToAuthenticateAtCsms', false),
    ('2.1', 'CsmsFailedToAuthenticate', false), ('2.1', 'SettingSystemTime', true),
    ('2.1', 'StartupOfTheDevice', true), ('2.1', 'ResetOrReboot', true),
    ('2.1', 'SecurityLogWasCleared', true), ('2.1', 'ReconfigurationOfSecurityParameters', false),
    ('2.1', 'MemoryExhaustion', true), ('2.1', 'InvalidMessages', false),
    ('2.1', 'AttemptedReplayAttacks', false), ('2.1', 'TamperDetectionActivated', true),
    ('2.1', 'InvalidFirmwareSignature', true), ('2.1', 'InvalidFirmwareSigningCertificate', true),
    ('2.1', 'InvalidCsmsCertificate', true), ('2.1', 'InvalidChargingStationCertificate', true),
    ('2.1', 'DiscardedRenewedClientCertificate', true), ('2.1', 'InvalidTLSVersion', true),
    ('2.1', 'InvalidTLSCipherSuite', true), ('2.1', 'MaintenanceLoginAccepted', true),
    ('2.1', 'MaintenanceLoginFailed', true);

-- What a 2.1 station says of a session beyond 2.0.1, latest by seqNo
-- (TransactionEvent transactionInfo and costDetails): the limits it runs
-- under, its operation mode (bidirectional charging), the tariff it applies
-- and the cost it computed itself (I12; the cost pgcsms computes is 0016's
-- cost_details). priority_charging: the station's latest NotifyPriorityCharging;
-- allowed_energy_transfer: the modes of our accepted NotifyAllowedEnergyTransfer.
ALTER TABLE pgcsms.transactions
    ADD COLUMN transaction_limit jsonb,
    ADD COLUMN operation_mode text,
    ADD COLUMN tariff_id text,
    ADD COLUMN station_cost_details jsonb,
    ADD COLUMN priority_charging boolean,
    ADD COLUMN allowed_energy_transfer text[];

-- S: battery swaps (BatterySwap), one row per battery taken in or out; a
-- swap started by RequestBatterySwap (S02) carries its requestId.
CREATE TABLE pgcsms.battery_swaps (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    request_id       integer NOT NULL,
    command_id       bigint,
    event_type       text NOT NULL,
    id_token         text NOT NULL,
    id_token_type    text NOT NULL,
    evse_id          integer NOT NULL,
    serial_number    text NOT NULL,
    soc              numeric NOT NULL,
    soh              numeric NOT NULL,
    production_date  timestamptz,
    vendor_info      text,
    unique_id        text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

-- R: DER control (distributed energy resources). Alarms and the start and
-- stop of controls as the station reports them, and the controls it holds as
-- far as we know: set by us (SetDERControl accepted) or reported
-- (ReportDERControl, page by page, answering GetDERControl's requestId).
CREATE TABLE pgcsms.der_alarms (
    charge_point_id   text NOT NULL,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    control_type      text NOT NULL,
    grid_event_fault  text,
    alarm_ended       boolean NOT NULL,
    charger_at        timestamptz NOT NULL,
    extra_info        text,
    unique_id         text NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
CREATE TABLE pgcsms.der_start_stops (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    control_id       text NOT NULL,
    started          boolean NOT NULL,
    charger_at       timestamptz NOT NULL,
    superseded_ids   text[] NOT NULL DEFAULT '{}',
    unique_id        text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
CREATE TABLE pgcsms.der_controls (
    charge_point_id  text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    control_id       text NOT NULL,
    control_type     text NOT NULL,
    is_default       boolean NOT NULL,
    is_superseded    boolean NOT NULL DEFAULT false,
    control          jsonb NOT NULL,
    source           text NOT NULL CHECK (source IN ('set', 'report')),
    active           boolean,
    command_id       bigint,
    request_id       integer,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, control_id)
);
CREATE TABLE pgcsms.der_control_reports (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    request_id       integer NOT NULL,
    command_id       bigint,
    tbc              boolean NOT NULL,
    items            integer NOT NULL,
    unique_id        text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
CREATE INDEX ON pgcsms.der_control_reports (charge_point_id, request_id);

-- K: priority charging (K21/K22), asked by us (UsePriorityCharging) and
-- reported by the station (NotifyPriorityCharging).
CREATE TABLE pgcsms.priority_charging (
    charge_point_id        text NOT NULL,
    id                     bigint GENERATED ALWAYS AS IDENTITY,
    transaction_remote_id  text NOT NULL,
    transaction_id         bigint,
    activated              boolean NOT NULL,
    source                 text NOT NULL CHECK (source IN ('station', 'command')),
    command_id             bigint,
    status                 text,
    unique_id              text,
    at                     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

-- K: the latest limits and setpoints of a dynamic charging profile (K01),
-- what UpdateDynamicSchedule pushes and PullDynamicScheduleUpdate answers.
CREATE TABLE pgcsms.dynamic_schedules (
    charge_point_id      text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    charging_profile_id  integer NOT NULL,
    schedule_update      jsonb NOT NULL CHECK (jsonb_typeof(schedule_update) = 'object'),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    command_id           bigint,
    delivered_at         timestamptz,
    pulled_at            timestamptz,
    PRIMARY KEY (charge_point_id, charging_profile_id)
);

-- C: ad hoc payment settled by the station's payment terminal (C18-C24),
-- against the transaction it paid for.
CREATE TABLE pgcsms.settlements (
    charge_point_id        text NOT NULL,
    id                     bigint GENERATED ALWAYS AS IDENTITY,
    transaction_remote_id  text,
    transaction_id         bigint,
    psp_ref                text NOT NULL,
    status                 text NOT NULL,
    status_info            text,
    settlement_amount      numeric NOT NULL,
    settled_at             timestamptz NOT NULL,
    receipt_id             text,
    receipt_url            text,
    vat_company            jsonb,
    vat_number             text,
    unique_id              text NOT NULL,
    received_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
CREATE INDEX ON pgcsms.settlements (transaction_id) WHERE transaction_id IS NOT NULL;

-- C: VAT numbers a payment terminal may ask about (VatNumberValidation),
-- kept by an operator or an integration with a VAT register (pgcsms makes no
-- outbound calls), and what was asked.
CREATE TABLE pgcsms.vat_numbers (
    vat_number   text NOT NULL CHECK (vat_number <> '' AND length(vat_number) <= 20),
    status       text NOT NULL CHECK (status IN ('Accepted', 'Rejected')),
    company      jsonb CHECK (jsonb_typeof(company) = 'object'),
    description  text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX vat_numbers_vat_number ON pgcsms.vat_numbers (upper(vat_number));
CREATE TABLE pgcsms.vat_number_validations (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    vat_number       text NOT NULL,
    evse_id          integer,
    status           text NOT NULL,
    known            boolean NOT NULL,
    unique_id        text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

-- N: periodic event streams (N11-N15). A stream carries the values of one
-- monitored variable (its variableMonitoringId); the component and variable
-- are those the monitor had when the stream opened. Values come as SENDs
-- (NotifyPeriodicEventStream), one row each, for charts.
CREATE TABLE pgcsms.periodic_event_streams (
    charge_point_id         text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    stream_id               integer NOT NULL,
    variable_monitoring_id  integer,
    interval_s              integer,
    value_count             integer,
    component               text,
    component_instance      text,
    evse_id                 integer,
    connector_id            integer,
    variable                text,
    variable_instance       text,
    source                  text NOT NULL CHECK (source IN ('station', 'report', 'data')),
    opened_at               timestamptz,
    closed_at               timestamptz,
    pending                 integer,
    last_value_at           timestamptz,
    unique_id               text,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, stream_id)
);
CREATE TABLE pgcsms.periodic_event_values (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    stream_id        integer NOT NULL,
    at               timestamptz NOT NULL,
    value            text NOT NULL,
    numeric_value    double precision,
    unique_id        text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
CREATE INDEX periodic_event_values_stream ON pgcsms.periodic_event_values (charge_point_id, stream_id, at);
CREATE INDEX ON pgcsms.periodic_event_values USING brin (at);

-- M: GetCertificateChainStatus asks about each certificate of a chain by OCSP
-- or CRL; GetCertificateStatus (2.0.1) by OCSP.
ALTER TABLE pgcsms.certificate_status_requests ADD COLUMN source text NOT NULL DEFAULT 'OCSP';
CREATE OR REPLACE VIEW ocpp.certificate_status_requests AS
    SELECT charge_point_id, id, hash_algorithm, issuer_name_hash, issuer_key_hash, serial_number, responder_url,
           status, received_at, source
      FROM pgcsms.certificate_status_requests;
COMMENT ON VIEW ocpp.certificate_status_requests IS
    'GetCertificateStatus (2.0.1, OCSP) and GetCertificateChainStatus (2.1, one row per certificate of the chain; source OCSP or CRL) requests: the certificate''s hash data, its responder (responder_url: the OCSP responder or CRL distribution point, the first when several) and our answer (status: Accepted or Failed for GetCertificateStatus; Good, Revoked, Unknown or Failed for a chain) from ocpp.certificate_statuses. An integration can fetch what failed from responder_url and store it with ocpp.set_certificate_status for the next request.';

-- The API.

CREATE VIEW ocpp.transaction_details AS
    SELECT t.id, t.charge_point_id, t.remote_id, t.ocpp_version, t.transaction_limit, t.operation_mode, t.tariff_id,
           t.station_cost_details,
           coalesce((t.station_cost_details->'totalCost'->'total'->>'inclTax')::numeric,
                    (t.station_cost_details->'totalCost'->'total'->>'exclTax')::numeric) AS station_total_cost,
           t.priority_charging, t.allowed_energy_transfer,
           s.status AS settlement_status, s.settlement_amount, s.settled_at, s.psp_ref
      FROM pgcsms.transactions AS t
      LEFT JOIN LATERAL (SELECT x.status, x.settlement_amount, x.settled_at, x.psp_ref
                           FROM pgcsms.settlements AS x
                          WHERE x.transaction_id = t.id
                          ORDER BY x.settled_at DESC, x.id DESC LIMIT 1) AS s ON true
     WHERE t.ocpp_version <> '1.6';
COMMENT ON VIEW ocpp.transaction_details IS
    'What OCPP 2.1 adds to a session of a 2.0.1 or 2.1 station (id is ocpp.transactions.id: join it there). From its TransactionEvents, latest by seqNo: transaction_limit (TransactionLimitType: maxCost, maxEnergy, maxTime, maxSoC), operation_mode (Idle, ChargingOnly, CentralSetpoint, ExternalSetpoint, ExternalLimits, CentralFrequency, LocalFrequency, LocalLoadBalancing), tariff_id (the tariff the station applies) and station_cost_details (CostDetailsType: the cost the station computed itself; station_total_cost its totalCost.total, including tax when it says). priority_charging: its latest NotifyPriorityCharging (ocpp.priority_charging). allowed_energy_transfer: the modes of our accepted NotifyAllowedEnergyTransfer. settlement_*: its latest payment settlement (ocpp.settlements).';

CREATE VIEW ocpp.battery_swaps AS
    SELECT charge_point_id, id, request_id, command_id, event_type, id_token, id_token_type, evse_id, serial_number,
           soc, soh, production_date, vendor_info, received_at
      FROM pgcsms.battery_swaps;
COMMENT ON VIEW ocpp.battery_swaps IS
    'Batteries swapped at OCPP 2.1 battery swap stations (BatterySwap), one row per battery: event_type BatteryIn (put in by the user), BatteryOut (taken out) or BatteryOutTimeout (not taken); evse_id the slot, serial_number, soc and soh (%), production_date, vendor_info; id_token who swapped. request_id: the station''s, or that of our RequestBatterySwap (ocpp.request_battery_swap; command_id) for a remote start (S02).';

CREATE VIEW ocpp.der_alarms AS
    SELECT charge_point_id, id, control_type, grid_event_fault, alarm_ended, charger_at, extra_info, received_at
      FROM pgcsms.der_alarms;
COMMENT ON VIEW ocpp.der_alarms IS
    'DER alarms of OCPP 2.1 stations (NotifyDERAlarm, R05): control_type the DER control that raised it (e.g. HVMustTrip), grid_event_fault (OverVoltage, UnderFrequency, ...), alarm_ended true when the condition is gone, charger_at the station''s time.';

CREATE VIEW ocpp.der_start_stops AS
    SELECT charge_point_id, id, control_id, started, charger_at, superseded_ids, received_at
      FROM pgcsms.der_start_stops;
COMMENT ON VIEW ocpp.der_start_stops IS
    'DER controls an OCPP 2.1 station started (started true) or stopped (NotifyDERStartStop), with the controls the started one superseded; ocpp.der_controls.active follows them.';

CREATE VIEW ocpp.der_controls AS
    SELECT charge_point_id, control_id, control_type, is_default, is_superseded, control, source, active, command_id,
           request_id, updated_at
      FROM pgcsms.der_controls;
COMMENT ON VIEW ocpp.der_controls IS
    'DER controls on each OCPP 2.1 station as far as we know: source set (SetDERControl answered Accepted, ocpp.set_der_control; command_id) or report (ReportDERControl answering ocpp.get_der_control; request_id, command_id). control is the control''s own object (DERCurveType for curves, EnterServiceType, FixedPFType, FixedVarType, FreqDroopType, GradientType or LimitMaxDischargeType). is_default: a default control, used when no scheduled one applies. is_superseded: another control took over (SetDERControl''s supersededIds, NotifyDERStartStop). active: started (true) or stopped (false) by NotifyDERStartStop, NULL when not told. ClearDERControl accepted removes those it names; a complete report of every control replaces the reported ones it no longer lists.';

CREATE VIEW ocpp.der_control_reports AS
    SELECT charge_point_id, request_id, max(command_id) AS command_id, count(*) AS pages, sum(items) AS items,
           bool_or(NOT tbc) AS complete, min(received_at) AS first_received_at, max(received_at) AS last_received_at
      FROM pgcsms.der_control_reports
     GROUP BY charge_point_id, request_id;
COMMENT ON VIEW ocpp.der_control_reports IS
    'ReportDERControl reports of OCPP 2.1 stations per requestId (of ocpp.get_der_control; command_id): pages received, controls in them (items), complete when the page with tbc false arrived.';

CREATE VIEW ocpp.priority_charging AS
    SELECT charge_point_id, id, transaction_remote_id, transaction_id, activated, source, command_id, status, at
      FROM pgcsms.priority_charging;
COMMENT ON VIEW ocpp.priority_charging IS
    'Priority charging (OCPP 2.1 K21/K22) of sessions: source command, our UsePriorityCharging (ocpp.use_priority_charging: activated is what we asked, status the station''s answer Accepted, Rejected or NoProfile); source station, its NotifyPriorityCharging (activated: priority charging now on or off, also in ocpp.transaction_details.priority_charging). transaction_remote_id is the station''s transactionId, transaction_id ours.';

CREATE VIEW ocpp.dynamic_schedules AS
    SELECT charge_point_id, charging_profile_id, schedule_update, updated_at, command_id, delivered_at, pulled_at
      FROM pgcsms.dynamic_schedules;
COMMENT ON VIEW ocpp.dynamic_schedules IS
    'The latest limits and setpoints (ChargingScheduleUpdateType: limit, dischargeLimit, setpoint, setpointReactive, per phase) of each dynamic charging profile of OCPP 2.1 stations, set with ocpp.set_dynamic_schedule or pushed with ocpp.update_dynamic_schedule (command_id; delivered_at when the station accepted it). A station''s PullDynamicScheduleUpdate is answered from here (pulled_at), Rejected when its profile has no row.';

CREATE VIEW ocpp.settlements AS
    SELECT charge_point_id, id, transaction_remote_id, transaction_id, psp_ref, status, status_info, settlement_amount,
           settled_at, receipt_id, receipt_url, vat_company, vat_number, received_at
      FROM pgcsms.settlements;
COMMENT ON VIEW ocpp.settlements IS
    'Payments settled by the payment terminals of OCPP 2.1 stations (NotifySettlement, C18-C24): psp_ref the payment service provider''s reference, status Settled, Canceled, Rejected or Failed, settlement_amount and settled_at, the receipt (receipt_id, receipt_url) and the VAT data the customer gave; transaction_id is the session it paid for (ocpp.transactions.id; NULL when the station named none or one we do not know, transaction_remote_id keeps what it named).';

CREATE VIEW ocpp.vat_numbers AS
    SELECT vat_number, status, company, description, updated_at FROM pgcsms.vat_numbers;
COMMENT ON VIEW ocpp.vat_numbers IS
    'VAT numbers an OCPP 2.1 payment terminal may ask about (VatNumberValidation), kept with ocpp.set_vat_number by an operator or an integration with a VAT register: status Accepted (valid; company is the AddressType sent back) or Rejected. A number not listed is answered Rejected with reasonCode NotFound (see ocpp.vat_number_validations for what was asked).';

CREATE VIEW ocpp.vat_number_validations AS
    SELECT charge_point_id, id, vat_number, evse_id, status, known, received_at FROM pgcsms.vat_number_validations;
COMMENT ON VIEW ocpp.vat_number_validations IS
    'VatNumberValidation requests of OCPP 2.1 stations and our answer (status Accepted or Rejected; known false: the number was not in ocpp.vat_numbers, answered Rejected with reasonCode NotFound), for an integration to look up and store.';

CREATE VIEW ocpp.periodic_event_streams AS
    SELECT charge_point_id, stream_id, variable_monitoring_id, interval_s, value_count, component, component_instance, evse_id,
           connector_id, variable, variable_instance, source, opened_at, closed_at, closed_at IS NULL AS open, pending,
           last_value_at, updated_at
      FROM pgcsms.periodic_event_streams;
COMMENT ON VIEW ocpp.periodic_event_streams IS
    'Periodic event streams of OCPP 2.1 stations (N11-N15): each carries the values of one monitored variable (variable_monitoring_id, with the component and variable that monitor had in ocpp.variable_monitors when the stream opened), sent every interval_s seconds or every value_count values (the stream''s params interval and values). source station: opened by OpenPeriodicEventStream (closed_at: ClosePeriodicEventStream); report: listed by GetPeriodicEventStream (ocpp.get_periodic_event_stream); data: values came for a stream never opened here. pending: values the station still had to send with its last NotifyPeriodicEventStream. Values: ocpp.periodic_event_values.';

CREATE VIEW ocpp.periodic_event_values AS
    SELECT v.charge_point_id, v.stream_id, s.component, s.evse_id, s.variable, v.at, v.value, v.numeric_value,
           v.received_at
      FROM pgcsms.periodic_event_values AS v
      LEFT JOIN pgcsms.periodic_event_streams AS s ON (s.charge_point_id, s.stream_id) = (v.charge_point_id, v.stream_id);
COMMENT ON VIEW ocpp.periodic_event_values IS
    'Every value of the periodic event streams of OCPP 2.1 stations (NotifyPeriodicEventStream SENDs), one row each, for charts: stream_id, the variable it carries (component, evse_id, variable; ocpp.periodic_event_streams), at (the message''s basetime plus the value''s t seconds), value as sent and numeric_value when it is a number.';

GRANT SELECT ON ocpp.transaction_details, ocpp.battery_swaps, ocpp.der_alarms, ocpp.der_start_stops, ocpp.der_controls,
    ocpp.der_control_reports, ocpp.priority_charging, ocpp.dynamic_schedules, ocpp.settlements, ocpp.vat_numbers,
    ocpp.vat_number_validations, ocpp.periodic_event_streams, ocpp.periodic_event_values
    TO pgcsms_reader;

-- Helpers of OCPP 2.1 commands (ocpp.command_actions): 2.0.1's, which serve
-- 2.1 stations too, and those of the new commands (sql/functions/v21/).
INSERT INTO pgcsms.command_actions (ocpp_version, action, helper)
SELECT '2.1', action, helper FROM pgcsms.command_actions WHERE ocpp_version = '2.0.1'
ON CONFLICT (ocpp_version, action) DO NOTHING;
INSERT INTO pgcsms.command_actions (ocpp_version, action, helper) VALUES
    ('2.1', 'RequestBatterySwap', 'ocpp.request_battery_swap'),
    ('2.1', 'SetDERControl', 'ocpp.set_der_control'),
    ('2.1', 'GetDERControl', 'ocpp.get_der_control'),
    ('2.1', 'ClearDERControl', 'ocpp.clear_der_control'),
    ('2.1', 'UsePriorityCharging', 'ocpp.use_priority_charging'),
    ('2.1', 'UpdateDynamicSchedule', 'ocpp.update_dynamic_schedule'),
    ('2.1', 'NotifyWebPaymentStarted', 'ocpp.notify_web_payment_started'),
    ('2.1', 'GetPeriodicEventStream', 'ocpp.get_periodic_event_stream'),
    ('2.1', 'AdjustPeriodicEventStream', 'ocpp.adjust_periodic_event_stream'),
    ('2.1', 'NotifyAllowedEnergyTransfer', 'ocpp.notify_allowed_energy_transfer'),
    ('2.1', 'AFRRSignal', 'ocpp.afrr_signal')
ON CONFLICT (ocpp_version, action) DO NOTHING;
