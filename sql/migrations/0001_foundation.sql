-- The foundation: private tables in schema pgcsms, the public API (views and
-- functions) in schema ocpp, and the three roles.
--
-- Every hot table is keyed by charge_point_id first so the schema can later be
-- sharded by charge point (Citus) without a redesign. Connectors are addressed
-- as (evse_id, connector_id) so OCPP 2.0.1 fits the same tables; for OCPP 1.6
-- both hold the 1.6 connectorId (one connector per EVSE; 0 is the charge point
-- as a whole).

CREATE SCHEMA IF NOT EXISTS pgcsms;
CREATE SCHEMA IF NOT EXISTS ocpp;
COMMENT ON SCHEMA pgcsms IS 'pgcsms private tables: reach them through the views and functions of schema ocpp.';
COMMENT ON SCHEMA ocpp IS 'pgcsms public API: views to read, functions to act. See README "SQL API".';

-- Roles are cluster-wide: create them once, grant per database.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgcsms_proxy') THEN
        CREATE ROLE pgcsms_proxy NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgcsms_reader') THEN
        CREATE ROLE pgcsms_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgcsms_operator') THEN
        CREATE ROLE pgcsms_operator NOLOGIN;
    END IF;
END
$$;
GRANT pgcsms_reader TO pgcsms_operator;

REVOKE ALL ON SCHEMA pgcsms FROM PUBLIC;
REVOKE CREATE ON SCHEMA ocpp FROM PUBLIC;
GRANT USAGE ON SCHEMA ocpp TO pgcsms_proxy, pgcsms_reader, pgcsms_operator;
-- Functions are private until a grant says otherwise.
ALTER DEFAULT PRIVILEGES IN SCHEMA ocpp REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA pgcsms REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

CREATE TABLE pgcsms.settings (
    key         text PRIMARY KEY,
    value       text NOT NULL,
    description text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO pgcsms.settings (key, value, description) VALUES
    ('unknown_charge_points', 'pending',
     'What happens to a charge point that is not registered: accept | pending (registered, answered Pending until an operator accepts it) | reject'),
    ('heartbeat_interval', '300', 'Seconds between heartbeats, sent in BootNotification.conf'),
    ('pending_retry_interval', '60', 'Seconds a Pending or Rejected charge point waits before booting again'),
    ('clock_skew_tolerance', '300', 'Seconds a charger clock may differ from ours before it is flagged'),
    ('ping_interval', '60', 'Seconds between WebSocket pings; 0 switches them off (per charge point: charge_points.ping_interval)'),
    ('call_timeout', '30', 'Seconds the proxy waits for the answer to a command');

CREATE TABLE pgcsms.charge_points (
    id                        text PRIMARY KEY CHECK (id <> '' AND length(id) <= 48),
    registration_status       text NOT NULL DEFAULT 'Accepted'
                                  CHECK (registration_status IN ('Accepted', 'Pending', 'Rejected')),
    description               text,
    vendor                    text,
    model                     text,
    serial_number             text,
    charge_box_serial_number  text,
    firmware_version          text,
    iccid                     text,
    imsi                      text,
    meter_type                text,
    meter_serial_number       text,
    ocpp_version              text,
    ping_interval             integer CHECK (ping_interval >= 0),
    connected                 boolean NOT NULL DEFAULT false,
    node_id                   text,
    connection_epoch          bigint NOT NULL DEFAULT 0,
    remote_address            text,
    connected_at              timestamptz,
    disconnected_at           timestamptz,
    last_seen_at              timestamptz,
    last_boot_at              timestamptz,
    clock_skew                interval,
    firmware_status           text,
    firmware_status_at        timestamptz,
    diagnostics_status        text,
    diagnostics_status_at     timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pgcsms.connectors (
    charge_point_id    text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    evse_id            integer NOT NULL CHECK (evse_id >= 0),
    connector_id       integer NOT NULL CHECK (connector_id >= 0),
    status             text NOT NULL,
    error_code         text,
    info               text,
    vendor_id          text,
    vendor_error_code  text,
    status_at          timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, evse_id, connector_id)
);

CREATE TABLE pgcsms.status_history (
    charge_point_id    text NOT NULL,
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    evse_id            integer NOT NULL,
    connector_id       integer NOT NULL,
    status             text NOT NULL,
    error_code         text,
    info               text,
    vendor_id          text,
    vendor_error_code  text,
    charger_at         timestamptz,
    received_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

CREATE TABLE pgcsms.id_tags (
    id_tag          text PRIMARY KEY CHECK (id_tag <> '' AND length(id_tag) <= 20),
    status          text NOT NULL DEFAULT 'Accepted' CHECK (status IN ('Accepted', 'Blocked', 'Expired', 'Invalid')),
    expires_at      timestamptz,
    parent_id_tag   text CHECK (length(parent_id_tag) <= 20),
    description     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- OCPP 1.6 id tokens are case-insensitive.
CREATE UNIQUE INDEX id_tags_upper ON pgcsms.id_tags (upper(id_tag));

CREATE TABLE pgcsms.reservations (
    id               integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    charge_point_id  text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    connector_id     integer NOT NULL CHECK (connector_id >= 0),
    id_tag           text NOT NULL,
    parent_id_tag    text,
    expires_at       timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'Requested'
                         CHECK (status IN ('Requested', 'Accepted', 'Faulted', 'Occupied', 'Rejected',
                                           'Unavailable', 'Used', 'Cancelled', 'Expired')),
    transaction_id   bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON pgcsms.reservations (charge_point_id, connector_id) WHERE status IN ('Requested', 'Accepted');

-- transactionId is an OCPP 1.6 integer; the identity stays within int32 so
-- every charger can hold it. OCPP 2.0.1 chargers name their own transaction
-- (remote_id); the identity is then our internal key.
CREATE TABLE pgcsms.transactions (
    id                   bigint GENERATED ALWAYS AS IDENTITY (MAXVALUE 2147483647) PRIMARY KEY,
    charge_point_id      text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    remote_id            text,
    evse_id              integer NOT NULL,
    connector_id         integer NOT NULL,
    id_tag               text NOT NULL,
    parent_id_tag        text,
    authorization_status text NOT NULL,
    reservation_id       integer,
    meter_start          bigint NOT NULL,
    meter_stop           bigint,
    started_at           timestamptz NOT NULL,
    start_received_at    timestamptz NOT NULL DEFAULT now(),
    start_unique_id      text NOT NULL,
    stopped_at           timestamptz,
    stop_received_at     timestamptz,
    stop_unique_id       text,
    stop_reason          text,
    stop_id_tag          text,
    stop_authorization_status text,
    UNIQUE (charge_point_id, remote_id)
);
CREATE INDEX ON pgcsms.transactions (charge_point_id, start_unique_id);
CREATE INDEX ON pgcsms.transactions (charge_point_id, evse_id, started_at);
CREATE INDEX transactions_open_by_tag ON pgcsms.transactions (upper(id_tag)) WHERE stopped_at IS NULL;
CREATE INDEX transactions_open_by_connector ON pgcsms.transactions (charge_point_id, connector_id) WHERE stopped_at IS NULL;

CREATE TABLE pgcsms.meter_values (
    charge_point_id    text NOT NULL,
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    evse_id            integer NOT NULL,
    connector_id       integer NOT NULL,
    transaction_id     bigint,
    transaction_known  boolean NOT NULL,
    sampled_at         timestamptz NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    source             text NOT NULL,
    measurand          text NOT NULL,
    phase              text,
    unit               text,
    context            text,
    location           text,
    format             text,
    value              text NOT NULL,
    normalized_value   double precision,
    normalized_unit    text,
    PRIMARY KEY (charge_point_id, id)
);
CREATE INDEX ON pgcsms.meter_values (transaction_id, sampled_at) WHERE transaction_id IS NOT NULL;

CREATE TABLE pgcsms.message_log (
    charge_point_id    text NOT NULL,
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    direction          text NOT NULL CHECK (direction IN ('in', 'out')),
    message_type       smallint CHECK (message_type IN (2, 3, 4)),
    unique_id          text,
    action             text,
    payload            jsonb,
    raw                text,
    error_code         text,
    error_description  text,
    error_detail       text,
    node_id            text,
    at                 timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (charge_point_id, id)
);
CREATE INDEX ON pgcsms.message_log (charge_point_id, unique_id);
CREATE INDEX ON pgcsms.message_log USING brin (at);

-- Things a person should look at: stops for unknown transactions, duplicate
-- stops, chargers whose clock is far off.
CREATE TABLE pgcsms.anomalies (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    kind             text NOT NULL,
    unique_id        text,
    transaction_id   bigint,
    detail           jsonb NOT NULL DEFAULT '{}',
    at               timestamptz NOT NULL DEFAULT now(),
    reviewed_at      timestamptz,
    PRIMARY KEY (charge_point_id, id)
);

CREATE TABLE pgcsms.data_transfer_vendors (
    vendor_id    text PRIMARY KEY,
    message_ids  text[],
    status       text NOT NULL DEFAULT 'Accepted' CHECK (status IN ('Accepted', 'Rejected')),
    description  text
);

CREATE TABLE pgcsms.data_transfers (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    direction        text NOT NULL DEFAULT 'in' CHECK (direction IN ('in', 'out')),
    vendor_id        text NOT NULL,
    message_id       text,
    data             text,
    status           text NOT NULL,
    at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

-- Diagnostics, firmware, log and signed-firmware status notifications.
CREATE TABLE pgcsms.job_status_history (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    kind             text NOT NULL CHECK (kind IN ('diagnostics', 'firmware', 'log', 'signed_firmware')),
    status           text NOT NULL,
    request_id       integer,
    at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

CREATE TABLE pgcsms.security_event_types (
    type         text PRIMARY KEY,
    critical     boolean NOT NULL,
    description  text
);
-- The critical events of the OCPP 1.6 Security Whitepaper (edition 2), appendix 1.
INSERT INTO pgcsms.security_event_types (type, critical) VALUES
    ('FirmwareUpdated', true), ('FailedToAuthenticateAtCentralSystem', false),
    ('CentralSystemFailedToAuthenticate', false), ('SettingSystemTime', true),
    ('StartupOfTheDevice', true), ('ResetOrReboot', true), ('SecurityLogWasCleared', true),
    ('ReconfigurationOfSecurityParameters', false), ('MemoryExhaustion', true),
    ('InvalidMessages', false), ('AttemptedReplayAttacks', false), ('TamperDetectionActivated', true),
    ('InvalidFirmwareSignature', false), ('InvalidFirmwareSigningCertificate', false),
    ('InvalidCentralSystemCertificate', false), ('InvalidChargePointCertificate', false),
    ('InvalidTLSVersion', false), ('InvalidTLSCipherSuite', false);

CREATE TABLE pgcsms.security_events (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    type             text NOT NULL,
    critical         boolean NOT NULL,
    tech_info        text,
    charger_at       timestamptz,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

CREATE TABLE pgcsms.certificate_signing_requests (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    csr              text NOT NULL,
    status           text NOT NULL DEFAULT 'Received' CHECK (status IN ('Received', 'Signed', 'Rejected')),
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
