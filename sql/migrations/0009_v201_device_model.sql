-- OCPP 2.0.1 provisioning, device model, availability and monitoring
-- (functional blocks B, G, A and N's monitoring). Handlers and effects are in
-- sql/functions/v201/ (provisioning, status, device_model, monitoring,
-- command_helpers_provisioning); the rules 1.6 shares are in sql/functions/.

-- Why the station booted last (2.0.1 BootNotification.reason; 1.6 says none).
ALTER TABLE pgcsms.charge_points ADD COLUMN boot_reason text;

-- The columns of 0004, then the new one at the end.
CREATE OR REPLACE VIEW ocpp.charge_points AS
    SELECT id, registration_status, description, vendor, model, serial_number, charge_box_serial_number,
           firmware_version, iccid, imsi, meter_type, meter_serial_number, ocpp_version, connected,
           node_id, remote_address, connected_at, disconnected_at, last_seen_at, last_boot_at,
           clock_skew, firmware_status, firmware_status_at, diagnostics_status, diagnostics_status_at,
           ping_interval, created_at, updated_at,
           security_profile, password_hash IS NOT NULL AS has_password,
           boot_reason
      FROM pgcsms.charge_points;
COMMENT ON VIEW ocpp.charge_points IS
    'Charge points: identity, what BootNotification said, registration status (Accepted | Pending | Rejected), connection state. last_seen_at is refreshed at most every few seconds. clock_skew is set while the charger clock is flagged as far off. security_profile: 0 none, 1 HTTP Basic auth, 2 TLS + Basic auth, 3 TLS client certificate (ocpp.set_security_profile); has_password: a password is set (ocpp.set_password; the hash itself is in no view). ocpp_version: the version of its latest connection (1.6 or 2.0.1). boot_reason: the reason of its latest 2.0.1 BootNotification (PowerUp, RemoteReset, FirmwareUpdate, ...; NULL for 1.6).';

COMMENT ON VIEW ocpp.connectors IS
    'Current state of each connector from its latest StatusNotification (2.0.1: or NotifyEvent AvailabilityState). OCPP 1.6: evse_id = connector_id = the 1.6 connectorId; 0 is the charge point itself. OCPP 2.0.1: the station''s evseId and connectorId; connector 0 of an EVSE is the EVSE as a whole, EVSE 0 the station. status_at is the charger time, updated_at ours.';

-- ChangeAvailability per EVSE and connector (2.0.1). A 1.6 connector is
-- (evse_id, connector_id) = (connectorId, connectorId), as in pgcsms.connectors;
-- a 2.0.1 EVSE as a whole is connector 0 of it, the whole station (0, 0).
ALTER TABLE pgcsms.connector_availability ADD COLUMN evse_id integer CHECK (evse_id >= 0);
UPDATE pgcsms.connector_availability SET evse_id = connector_id;
ALTER TABLE pgcsms.connector_availability
    ALTER COLUMN evse_id SET NOT NULL,
    DROP CONSTRAINT connector_availability_pkey,
    ADD PRIMARY KEY (charge_point_id, evse_id, connector_id);

CREATE OR REPLACE VIEW ocpp.connector_availability AS
    SELECT a.charge_point_id, a.connector_id, a.availability, a.scheduled, c.status AS connector_status,
           a.command_id, a.updated_at, a.evse_id
      FROM pgcsms.connector_availability AS a
      LEFT JOIN pgcsms.connectors AS c
        ON c.charge_point_id = a.charge_point_id AND c.evse_id = a.evse_id AND c.connector_id = a.connector_id;
COMMENT ON VIEW ocpp.connector_availability IS
    'Availability set with ChangeAvailability (ocpp.change_availability): Operative or Inoperative, scheduled when the charger answered Scheduled (it changes once the running transaction ends). connector_status: the connector''s latest StatusNotification. OCPP 1.6: evse_id = connector_id, connector 0 is the whole charge point. OCPP 2.0.1: evse_id and connector_id as the station numbers them; connector 0 is the whole EVSE, evse_id 0 the whole station.';

-- The device model of each station (2.0.1 B05-B08): components x variables,
-- reported by NotifyReport, read by GetVariables, written by SetVariables.
-- Everything is the station's own (charge_point_id first): the same
-- component and variable on two stations, or on two EVSEs of one, are two
-- rows. Names and instances are case-insensitive (OCPP 2.0.1 ComponentType,
-- VariableType); evse_id and connector_id are NULL when the component has none.
CREATE TABLE pgcsms.device_model_variables (
    charge_point_id      text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    id                   bigint GENERATED ALWAYS AS IDENTITY,
    component            text NOT NULL,
    component_instance   text,
    evse_id              integer,
    connector_id         integer,
    variable             text NOT NULL,
    variable_instance    text,
    -- VariableCharacteristics, from the latest report that gave them.
    unit                 text,
    data_type            text,
    min_limit            numeric,
    max_limit            numeric,
    values_list          text,
    supports_monitoring  boolean,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
CREATE UNIQUE INDEX device_model_variables_key ON pgcsms.device_model_variables
    (charge_point_id, upper(component), upper(coalesce(component_instance, '')), coalesce(evse_id, -1),
     coalesce(connector_id, -1), upper(variable), upper(coalesce(variable_instance, '')));

-- Up to four attributes a variable (Actual, Target, MinSet, MaxSet). source:
-- what wrote the value last (report: NotifyReport, get: GetVariables
-- Accepted, set: SetVariables Accepted or RebootRequired), command_id the
-- command behind it (for a report, its GetBaseReport or GetReport). A secret
-- (BasicAuthPassword) never has a value here.
CREATE TABLE pgcsms.device_model_attributes (
    charge_point_id        text NOT NULL,
    variable_id            bigint NOT NULL,
    attribute_type         text NOT NULL,
    value                  text,
    mutability             text,
    persistent             boolean,
    constant               boolean,
    source                 text NOT NULL CHECK (source IN ('report', 'get', 'set')),
    reboot_required_since  timestamptz,
    command_id             bigint,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, variable_id, attribute_type),
    FOREIGN KEY (charge_point_id, variable_id) REFERENCES pgcsms.device_model_variables ON DELETE CASCADE
);

-- Reports a station sends in pages: NotifyReport (kind device_model, asked
-- for with GetBaseReport or GetReport) and NotifyMonitoringReport (kind
-- monitoring, GetMonitoringReport). One row per requestId, made by the
-- answer to our request or by the first page, whichever comes first.
CREATE TABLE pgcsms.report_requests (
    charge_point_id  text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('device_model', 'monitoring')),
    request_id       integer NOT NULL,
    action           text,
    command_id       bigint,
    criteria         jsonb,
    status           text,
    requested_at     timestamptz,
    answered_at      timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, kind, request_id)
);
CREATE TABLE pgcsms.report_pages (
    charge_point_id  text NOT NULL,
    kind             text NOT NULL,
    request_id       integer NOT NULL,
    seq_no           integer NOT NULL,
    tbc              boolean NOT NULL,
    generated_at     timestamptz,
    items            integer NOT NULL,
    unique_id        text,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, kind, request_id, seq_no),
    FOREIGN KEY (charge_point_id, kind, request_id) REFERENCES pgcsms.report_requests ON DELETE CASCADE
);

-- Monitors on a station's variables (2.0.1 N02-N06): reported by
-- NotifyMonitoringReport, set by SetVariableMonitoring, removed by
-- ClearVariableMonitoring. monitor_id is the station's.
CREATE TABLE pgcsms.variable_monitors (
    charge_point_id  text NOT NULL,
    monitor_id       integer NOT NULL,
    variable_id      bigint NOT NULL,
    type             text NOT NULL,
    severity         integer NOT NULL,
    value            numeric NOT NULL,
    transaction      boolean NOT NULL DEFAULT false,
    source           text NOT NULL CHECK (source IN ('report', 'set')),
    command_id       bigint,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, monitor_id),
    FOREIGN KEY (charge_point_id, variable_id) REFERENCES pgcsms.device_model_variables ON DELETE CASCADE
);
CREATE INDEX variable_monitors_variable ON pgcsms.variable_monitors (charge_point_id, variable_id);

-- Every NotifyEvent event (2.0.1 N07/N08, G01's AvailabilityState): kept as
-- sent, with the paging of the message that carried it. The same eventId at
-- the same time is the same event (a resent message).
CREATE TABLE pgcsms.station_events (
    charge_point_id          text NOT NULL,
    id                       bigint GENERATED ALWAYS AS IDENTITY,
    event_id                 integer NOT NULL,
    charger_at               timestamptz NOT NULL,
    trigger                  text NOT NULL,
    cause                    integer,
    actual_value             text NOT NULL,
    tech_code                text,
    tech_info                text,
    cleared                  boolean,
    transaction_id           text,
    component                text NOT NULL,
    component_instance       text,
    evse_id                  integer,
    connector_id             integer,
    variable                 text NOT NULL,
    variable_instance        text,
    variable_monitoring_id   integer,
    event_notification_type  text NOT NULL,
    seq_no                   integer NOT NULL,
    tbc                      boolean NOT NULL,
    generated_at             timestamptz NOT NULL,
    unique_id                text,
    received_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
CREATE UNIQUE INDEX station_events_event ON pgcsms.station_events (charge_point_id, event_id, charger_at);
CREATE INDEX ON pgcsms.station_events USING brin (received_at);

-- Network connection profiles a station accepted (SetNetworkProfile, B09),
-- per configuration slot. APN and VPN passwords are redacted, as in the
-- command.
CREATE TABLE pgcsms.network_profiles (
    charge_point_id     text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    configuration_slot  integer NOT NULL,
    ocpp_csms_url       text NOT NULL,
    security_profile    integer NOT NULL,
    ocpp_interface      text,
    ocpp_transport      text,
    ocpp_version        text,
    message_timeout     integer,
    apn                 jsonb,
    vpn                 jsonb,
    command_id          bigint,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, configuration_slot)
);

-- The helpers of this block, for ocpp.command_actions.
INSERT INTO pgcsms.command_actions (ocpp_version, action, helper) VALUES
    ('2.0.1', 'Reset', 'ocpp.reset'),
    ('2.0.1', 'ChangeAvailability', 'ocpp.change_availability'),
    ('2.0.1', 'TriggerMessage', 'ocpp.trigger_message'),
    ('2.0.1', 'GetVariables', 'ocpp.get_variables'),
    ('2.0.1', 'SetVariables', 'ocpp.set_variables'),
    ('2.0.1', 'GetBaseReport', 'ocpp.get_base_report'),
    ('2.0.1', 'GetReport', 'ocpp.get_report'),
    ('2.0.1', 'SetNetworkProfile', 'ocpp.set_network_profile'),
    ('2.0.1', 'SetVariableMonitoring', 'ocpp.set_variable_monitoring'),
    ('2.0.1', 'ClearVariableMonitoring', 'ocpp.clear_variable_monitoring'),
    ('2.0.1', 'SetMonitoringBase', 'ocpp.set_monitoring_base'),
    ('2.0.1', 'SetMonitoringLevel', 'ocpp.set_monitoring_level'),
    ('2.0.1', 'GetMonitoringReport', 'ocpp.get_monitoring_report');

-- One helper per action serves 1.6 and 2.0.1 (new trailing parameters, a
-- payload per version): the old signatures go, sql/functions/command_helpers.sql
-- creates the new ones.
DROP FUNCTION IF EXISTS ocpp.reset(text, text, timestamptz);
DROP FUNCTION IF EXISTS ocpp.change_availability(text, integer, text, timestamptz);
DROP FUNCTION IF EXISTS ocpp.trigger_message(text, text, integer, timestamptz);

-- Views: the readable API.

CREATE VIEW ocpp.device_variables AS
    SELECT v.charge_point_id, v.component, v.component_instance, v.evse_id, v.connector_id, v.variable,
           v.variable_instance, a.attribute_type, a.value, a.mutability, a.updated_at, a.persistent, a.constant,
           v.unit, v.data_type, v.min_limit, v.max_limit, v.values_list, v.supports_monitoring,
           a.reboot_required_since IS NOT NULL
               AND (cp.last_boot_at IS NULL OR cp.last_boot_at < a.reboot_required_since) AS reboot_required,
           a.source, a.command_id
      FROM pgcsms.device_model_variables AS v
      JOIN pgcsms.device_model_attributes AS a ON (a.charge_point_id, a.variable_id) = (v.charge_point_id, v.id)
      JOIN pgcsms.charge_points AS cp ON cp.id = v.charge_point_id;
COMMENT ON VIEW ocpp.device_variables IS
    'The device model of each OCPP 2.0.1 station, one row per component, variable and attribute (attribute_type Actual | Target | MinSet | MaxSet): filled by NotifyReport (ocpp.get_base_report, ocpp.get_report), GetVariables answered Accepted (ocpp.get_variables) and SetVariables answered Accepted or RebootRequired (ocpp.set_variables). Names and instances compare case-insensitively; evse_id and connector_id are NULL for a component of the station as a whole. value is NULL for WriteOnly variables and never shows a secret (BasicAuthPassword). unit, data_type, min_limit, max_limit, values_list, supports_monitoring: the variable''s characteristics as last reported. reboot_required: set answered RebootRequired and the station has not booted since. source: report | get | set, what wrote the value last; command_id the command behind it.';

CREATE VIEW ocpp.variable_results AS
    SELECT c.charge_point_id, c.id AS command_id, c.action, r.n AS position,
           r.e->'component'->>'name' AS component, r.e->'component'->>'instance' AS component_instance,
           (r.e->'component'->'evse'->>'id')::integer AS evse_id,
           (r.e->'component'->'evse'->>'connectorId')::integer AS connector_id,
           r.e->'variable'->>'name' AS variable, r.e->'variable'->>'instance' AS variable_instance,
           coalesce(r.e->>'attributeType', 'Actual') AS attribute_type, r.e->>'attributeStatus' AS attribute_status,
           r.e->>'attributeValue' AS value, r.e->'attributeStatusInfo' AS status_info, c.completed_at
      FROM pgcsms.commands AS c
     CROSS JOIN LATERAL jsonb_array_elements(
               CASE WHEN c.action = 'GetVariables' AND jsonb_typeof(c.response->'getVariableResult') = 'array'
                        THEN c.response->'getVariableResult'
                    WHEN c.action = 'SetVariables' AND jsonb_typeof(c.response->'setVariableResult') = 'array'
                        THEN c.response->'setVariableResult'
                    ELSE '[]'::jsonb END) WITH ORDINALITY AS r(e, n)
     WHERE c.action IN ('GetVariables', 'SetVariables');
COMMENT ON VIEW ocpp.variable_results IS
    'Each result of each answered GetVariables and SetVariables command (OCPP 2.0.1), in the order of the answer: attribute_status Accepted, Rejected, UnknownComponent, UnknownVariable, NotSupportedAttributeType (SetVariables also RebootRequired), with status_info; value: the value GetVariables read. Accepted values also land in ocpp.device_variables.';

CREATE VIEW ocpp.report_requests AS
    SELECT r.charge_point_id, r.request_id, r.kind, r.action, r.status, r.completed_at IS NOT NULL AS complete,
           coalesce(p.pages, 0) AS pages, coalesce(p.items, 0) AS items, p.last_seq_no, r.criteria, r.command_id,
           r.requested_at, r.answered_at, p.first_generated_at AS generated_at, p.last_received_at, r.completed_at
      FROM pgcsms.report_requests AS r
      LEFT JOIN LATERAL (
            SELECT count(*) AS pages, sum(x.items) AS items, max(x.seq_no) FILTER (WHERE NOT x.tbc) AS last_seq_no,
                   min(x.generated_at) AS first_generated_at, max(x.received_at) AS last_received_at
              FROM pgcsms.report_pages AS x
             WHERE (x.charge_point_id, x.kind, x.request_id) = (r.charge_point_id, r.kind, r.request_id)) AS p ON true;
COMMENT ON VIEW ocpp.report_requests IS
    'Reports asked of OCPP 2.0.1 stations and the pages they sent, per requestId. kind device_model: GetBaseReport or GetReport (action), answered by NotifyReport pages into ocpp.device_variables; kind monitoring: GetMonitoringReport, answered by NotifyMonitoringReport pages into ocpp.variable_monitors. action and command_id are NULL for a report nobody asked for. status: the station''s answer (Accepted, EmptyResultSet, Rejected, NotSupported). complete: the last page (tbc false) and every page before it arrived; pages, items (reportData or monitor entries), last_seq_no: the seqNo of the last page once it came.';

CREATE VIEW ocpp.variable_monitors AS
    SELECT m.charge_point_id, m.monitor_id, v.component, v.component_instance, v.evse_id, v.connector_id, v.variable,
           v.variable_instance, m.type, m.severity, m.value, m.transaction, m.source, m.command_id, m.updated_at
      FROM pgcsms.variable_monitors AS m
      JOIN pgcsms.device_model_variables AS v ON (v.charge_point_id, v.id) = (m.charge_point_id, m.variable_id);
COMMENT ON VIEW ocpp.variable_monitors IS
    'Monitors on the variables of each OCPP 2.0.1 station (monitor_id is the station''s): reported by NotifyMonitoringReport (ocpp.get_monitoring_report; source report) or set by SetVariableMonitoring answered Accepted (ocpp.set_variable_monitoring; source set); ClearVariableMonitoring answered Accepted or NotFound removes them. type UpperThreshold | LowerThreshold | Delta | Periodic | PeriodicClockAligned, severity 0 (Danger) to 9 (Debug), transaction: only during a transaction.';

CREATE VIEW ocpp.station_events AS
    SELECT charge_point_id, id, event_id, charger_at, trigger, cause, actual_value, tech_code, tech_info, cleared,
           transaction_id, component, component_instance, evse_id, connector_id, variable, variable_instance,
           variable_monitoring_id, event_notification_type, seq_no, tbc, generated_at, unique_id, received_at
      FROM pgcsms.station_events;
COMMENT ON VIEW ocpp.station_events IS
    'Every event an OCPP 2.0.1 station reported with NotifyEvent: its eventId, time (charger_at), trigger (Alerting | Delta | Periodic), cause (the eventId that caused it), actual_value, tech_code/tech_info, cleared, transaction_id, the component and variable, the monitor that fired (variable_monitoring_id) and event_notification_type; seq_no, tbc and generated_at of the message that carried it. A Connector (or EVSE, ChargingStation) AvailabilityState event also sets the status in ocpp.connectors.';

CREATE VIEW ocpp.network_profiles AS
    SELECT charge_point_id, configuration_slot, ocpp_csms_url, security_profile, ocpp_interface, ocpp_transport,
           ocpp_version, message_timeout, apn, vpn, command_id, updated_at
      FROM pgcsms.network_profiles;
COMMENT ON VIEW ocpp.network_profiles IS
    'Network connection profiles each OCPP 2.0.1 station accepted with SetNetworkProfile (ocpp.set_network_profile), per configuration slot; APN and VPN passwords and keys are redacted (********). Readable by pgcsms_operator.';

GRANT SELECT ON ocpp.device_variables, ocpp.variable_results, ocpp.report_requests, ocpp.variable_monitors,
    ocpp.station_events TO pgcsms_reader;
GRANT SELECT ON ocpp.device_variables, ocpp.variable_results, ocpp.report_requests, ocpp.variable_monitors,
    ocpp.station_events, ocpp.network_profiles TO pgcsms_operator;
