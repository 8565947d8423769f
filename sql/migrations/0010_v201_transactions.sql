-- OCPP 2.0.1 authorization, local lists, transactions, meter values, remote
-- control and reservations (functional blocks C, D, E, F, H, J), on the
-- tables 1.6 already uses: one pgcsms.transactions row per session whatever
-- the version, one pgcsms.meter_values row per sampled value, one id_tags
-- table. The rules are in sql/functions/ (shared) and sql/functions/v201/.

-- Id tokens: 2.0.1 gives each a type (IdTokenEnumType). A tag without one
-- (every tag made for 1.6) matches a token of any type; a typed tag matches
-- only a token of its type. Token columns hold 255 characters (OCPP 2.1);
-- ocpp.add_id_tag keeps each version's own limits.
ALTER TABLE pgcsms.id_tags
    ADD COLUMN id_token_type text,
    DROP CONSTRAINT id_tags_id_tag_check,
    DROP CONSTRAINT id_tags_parent_id_tag_check,
    ADD CONSTRAINT id_tags_id_tag_check CHECK (id_tag <> '' AND length(id_tag) <= 255),
    ADD CONSTRAINT id_tags_parent_id_tag_check CHECK (length(parent_id_tag) <= 255);
-- ocpp.add_id_tag takes the type (sql/functions/id_tags.sql creates it).
DROP FUNCTION IF EXISTS ocpp.add_id_tag(text, text, timestamptz, text, text);

CREATE OR REPLACE VIEW ocpp.id_tags AS
    SELECT id_tag, status, expires_at, parent_id_tag, description, created_at, updated_at, id_token_type
      FROM pgcsms.id_tags;
COMMENT ON VIEW ocpp.id_tags IS
    'RFID cards and other id tokens. status Accepted | Blocked | Expired | Invalid; a passed expires_at makes an Accepted tag Expired. parent_id_tag is the group (1.6 parentIdTag, 2.0.1 groupIdToken). id_token_type: the 2.0.1 IdTokenEnumType the tag matches (ISO14443, ISO15693, eMAID, KeyCode, Local, MacAddress, Central), NULL: any type and OCPP 1.6. Tags match case-insensitively. Manage with ocpp.add_id_tag.';

-- Sessions of every version. A 2.0.1 station names its transaction
-- (remote_id, the wire transactionId); id stays ours. Its events may come
-- late, out of order, or without the Started one, so what a 1.6
-- StartTransaction always gives may be unknown for a while.
ALTER TABLE pgcsms.transactions
    ALTER COLUMN evse_id DROP NOT NULL,
    ALTER COLUMN connector_id DROP NOT NULL,
    ALTER COLUMN id_tag DROP NOT NULL,
    ALTER COLUMN authorization_status DROP NOT NULL,
    ALTER COLUMN meter_start DROP NOT NULL,
    ADD COLUMN ocpp_version text NOT NULL DEFAULT '1.6',
    ADD COLUMN id_token_type text,
    ADD COLUMN stop_id_token_type text,
    ADD COLUMN start_trigger_reason text,
    ADD COLUMN stop_trigger_reason text,
    ADD COLUMN charging_state text,
    ADD COLUMN time_spent_charging bigint,
    ADD COLUMN remote_start_id bigint,
    -- 2.0.1: from the Energy.Active.Import.Register readings (1.6: meter_stop - meter_start).
    ADD COLUMN energy_wh bigint,
    ADD COLUMN offline boolean NOT NULL DEFAULT false,
    ADD COLUMN last_seq_no bigint;
-- The open 2.0.1 transaction of an EVSE (MeterValues, superseding).
CREATE INDEX transactions_open_by_evse ON pgcsms.transactions (charge_point_id, evse_id) WHERE stopped_at IS NULL;

-- Every TransactionEventRequest, as sent and as answered. A resend (the same
-- station, transactionId and seqNo) finds its row and gets the same answer.
CREATE TABLE pgcsms.transaction_events (
    charge_point_id        text NOT NULL,
    remote_id              text NOT NULL,
    seq_no                 bigint NOT NULL,
    transaction_id         bigint NOT NULL,
    event_type             text NOT NULL,
    trigger_reason         text NOT NULL,
    charger_at             timestamptz NOT NULL,
    offline                boolean NOT NULL,
    evse_id                integer,
    connector_id           integer,
    charging_state         text,
    time_spent_charging    bigint,
    stopped_reason         text,
    remote_start_id        bigint,
    reservation_id         bigint,
    number_of_phases_used  integer,
    cable_max_current      integer,
    id_token               text,
    id_token_type          text,
    authorization_status   text,
    group_id_token         text,
    unique_id              text NOT NULL,
    payload                jsonb NOT NULL,
    response               jsonb NOT NULL,
    received_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, remote_id, seq_no)
);

-- Meter values: a 2.0.1 value may come before its transaction's EVSE is
-- known, and MeterValues names no connector. multiplier: the power of ten of
-- unitOfMeasure (2.0.1); signed_meter_value: signedMeterValue, verbatim.
ALTER TABLE pgcsms.meter_values
    ALTER COLUMN evse_id DROP NOT NULL,
    ALTER COLUMN connector_id DROP NOT NULL,
    ADD COLUMN multiplier integer,
    ADD COLUMN signed_meter_value jsonb;
-- Takes the EVSE and the version now (sql/functions/on_meter_values.sql).
DROP FUNCTION IF EXISTS ocpp._store_meter_values(text, integer, bigint, boolean, jsonb, text);

-- Energy between two register readings above this average power cannot have
-- been charged: the step is not counted (a register read as 0 at
-- Transaction.Begin after an offline period, then the lifetime register).
INSERT INTO pgcsms.settings (key, value, description) VALUES
    ('energy_step_max_kw', '1000',
     'OCPP 2.0.1 energy_wh: a step between two Energy.Active.Import.Register readings of a transaction that implies more than this average power (kW) is not counted');

-- Reservations: connector_id is the reserved EVSE in both versions (a 1.6
-- connector is its own EVSE), 0 for any. A 2.0.1 station may remove a
-- reservation itself (ReservationStatusUpdate Removed).
ALTER TABLE pgcsms.reservations
    ADD COLUMN id_token_type text,
    ADD COLUMN connector_type text,
    DROP CONSTRAINT reservations_status_check,
    ADD CONSTRAINT reservations_status_check
        CHECK (status IN ('Requested', 'Accepted', 'Faulted', 'Occupied', 'Rejected', 'Unavailable', 'Used',
                          'Cancelled', 'Expired', 'Removed'));
DROP FUNCTION IF EXISTS ocpp.reserve_now(text, integer, text, timestamptz, text);

CREATE OR REPLACE VIEW ocpp.reservations AS
    SELECT id, charge_point_id, connector_id, id_tag, parent_id_tag, expires_at,
           CASE WHEN status IN ('Requested', 'Accepted') AND expires_at <= now() THEN 'Expired'
                ELSE status END AS status,
           transaction_id, created_at, updated_at, command_id,
           connector_id AS evse_id, id_token_type, connector_type
      FROM pgcsms.reservations;
COMMENT ON VIEW ocpp.reservations IS
    'Reservations (make one with ocpp.reserve_now). status: Requested (sent, no answer yet), the charger''s answer Accepted | Faulted | Occupied | Rejected | Unavailable, Cancelled (ocpp.cancel_reservation accepted, or the ReserveNow command never delivered), Used (a StartTransaction or TransactionEvent named it), Expired (expires_at passed before it was used, or the 2.0.1 station said so), Removed (the 2.0.1 station removed it). command_id: the ReserveNow command. connector_id and evse_id: the reserved connector (1.6) or EVSE (2.0.1), 0 for any. id_token_type, connector_type: 2.0.1 only.';

-- Local lists: a 2.0.1 entry is an idToken with its type, and its
-- idTokenInfo (kept in id_tag_info).
ALTER TABLE pgcsms.local_list_entries ADD COLUMN id_token_type text;
CREATE OR REPLACE VIEW ocpp.local_list_entries AS
    SELECT charge_point_id, id_tag, id_tag_info, command_id, updated_at, id_token_type
      FROM pgcsms.local_list_entries;
COMMENT ON VIEW ocpp.local_list_entries IS
    'The tags on each charger''s local authorization list, as sent with SendLocalList and accepted. id_tag_info: the 1.6 idTagInfo or the 2.0.1 idTokenInfo; id_token_type: the 2.0.1 idToken type.';

DROP FUNCTION IF EXISTS ocpp.unlock_connector(text, integer, timestamptz);

-- RequestStartTransaction: the station echoes remoteStartId in the
-- TransactionEvent it starts; a sequence numbers them.
CREATE SEQUENCE pgcsms.remote_start_ids AS integer MINVALUE 1 CYCLE;
CREATE INDEX commands_remote_start ON pgcsms.commands (charge_point_id, (payload->>'remoteStartId'))
    WHERE action = 'RequestStartTransaction';

-- Contract certificates sent with a 2.0.1 Authorize (ISO 15118 Plug & Charge):
-- kept for whoever validates them; pgcsms asks no OCSP responder.
CREATE TABLE pgcsms.contract_certificates (
    charge_point_id    text NOT NULL,
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    unique_id          text NOT NULL,
    id_token           text NOT NULL,
    id_token_type      text NOT NULL,
    certificate        text,
    ocsp_request_data  jsonb,
    received_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);

-- Helpers of the 2.0.1 actions of these blocks (ocpp.command_actions).
INSERT INTO pgcsms.command_actions (ocpp_version, action, helper) VALUES
    ('2.0.1', 'RequestStartTransaction', 'ocpp.request_start_transaction'),
    ('2.0.1', 'RequestStopTransaction', 'ocpp.request_stop_transaction'),
    ('2.0.1', 'GetTransactionStatus', 'ocpp.get_transaction_status'),
    ('2.0.1', 'UnlockConnector', 'ocpp.unlock_connector'),
    ('2.0.1', 'SendLocalList', 'ocpp.send_local_list'),
    ('2.0.1', 'GetLocalListVersion', 'ocpp.get_local_list_version'),
    ('2.0.1', 'ClearCache', 'ocpp.clear_cache'),
    ('2.0.1', 'ReserveNow', 'ocpp.reserve_now'),
    ('2.0.1', 'CancelReservation', 'ocpp.cancel_reservation');

-- Views: the columns of 0003, then the new ones at the end.
CREATE OR REPLACE VIEW ocpp.transactions AS
    SELECT id, charge_point_id, evse_id, connector_id, id_tag, parent_id_tag, authorization_status,
           reservation_id, meter_start, meter_stop,
           CASE WHEN ocpp_version = '1.6' THEN meter_stop - meter_start ELSE energy_wh END AS energy_wh,
           started_at, stopped_at, stopped_at - started_at AS duration, stop_reason, stop_id_tag,
           start_received_at, stop_received_at, remote_id, remote_command_id,
           CASE WHEN ocpp_version = '1.6' THEN id::text ELSE remote_id END AS transaction_id,
           ocpp_version, id_token_type, start_trigger_reason, stop_trigger_reason, charging_state,
           time_spent_charging, remote_start_id, offline, last_seq_no, stop_id_token_type
      FROM pgcsms.transactions;
COMMENT ON VIEW ocpp.transactions IS
    'Charging sessions of every OCPP version. id is ours; transaction_id is the one on the wire (1.6: id, which we gave the charger; 2.0.1: the station''s transactionId, also in remote_id). started_at/stopped_at are charger times, *_received_at ours; an open session has stopped_at NULL. Energy in Wh: 1.6 energy_wh = meter_stop - meter_start; 2.0.1 meter_start and meter_stop are the first and last Energy.Active.Import.Register reading (Outlet, all phases) and energy_wh, kept up to date during the session, sums the steps between consecutive readings, leaving out a step that would mean more power than the energy_step_max_kw setting (a register read as 0 at Transaction.Begin after an offline period, then the lifetime register). id_tag/parent_id_tag/authorization_status: the token that started it, its group and what we answered; stop_id_tag: the one that stopped it. stop_reason: 1.6 reason, 2.0.1 stoppedReason (Local when absent). 2.0.1 only: start_trigger_reason/stop_trigger_reason (of the Started and Ended events; NULL while not received), charging_state and time_spent_charging (latest by seqNo), offline (some event was queued while offline), last_seq_no; its events are in ocpp.transaction_events. remote_command_id: the RemoteStartTransaction or RequestStartTransaction (remote_start_id) that started it.';

CREATE VIEW ocpp.transaction_events AS
    SELECT charge_point_id, remote_id AS transaction_id, seq_no, event_type, trigger_reason, charger_at, offline,
           evse_id, connector_id, charging_state, time_spent_charging, stopped_reason, remote_start_id,
           reservation_id, number_of_phases_used, cable_max_current, id_token, id_token_type,
           authorization_status, group_id_token, unique_id, payload, response, received_at
      FROM pgcsms.transaction_events;
COMMENT ON VIEW ocpp.transaction_events IS
    'Every OCPP 2.0.1 TransactionEventRequest, one row per (charge_point_id, transaction_id, seq_no), as sent (payload) and answered (response; authorization_status: the idTokenInfo status we gave its idToken). transaction_id is the station''s: join ocpp.transactions on (charge_point_id, transaction_id). A gap in seq_no is an event not received (yet).';

CREATE OR REPLACE VIEW ocpp.meter_values AS
    SELECT transaction_id, charge_point_id, evse_id, connector_id, sampled_at, measurand, phase,
           unit, value, normalized_value, normalized_unit, context, location, format, source,
           transaction_known, received_at, id, multiplier, signed_meter_value
      FROM pgcsms.meter_values;
COMMENT ON VIEW ocpp.meter_values IS
    'Every sampled value from MeterValues, StopTransaction.transactionData and TransactionEvent.meterValue. value is verbatim; energy and power are also given in normalized_value/normalized_unit (Wh, varh, VAh, W, var, VA) so kWh and Wh readings compare (2.0.1: times 10^multiplier). 2.0.1 values carry the defaults of the schema where the station left them out (measurand Energy.Active.Import.Register, unit Wh, context Sample.Periodic, location Outlet, multiplier 0) and signed_meter_value as sent; 1.6 values only the measurand and energy unit defaults. transaction_id is ours (ocpp.transactions.id); transaction_known is false when the charger named a transaction we do not know, or (2.0.1 MeterValues) none of the EVSE was open at the time; evse_id NULL: not known yet.';

CREATE VIEW ocpp.contract_certificates AS
    SELECT charge_point_id, id, unique_id, id_token, id_token_type, certificate, ocsp_request_data, received_at
      FROM pgcsms.contract_certificates;
COMMENT ON VIEW ocpp.contract_certificates IS
    'The contract certificate (PEM) or its OCSP request data (iso15118CertificateHashData) that a 2.0.1 station sent with an Authorize, for the idToken (eMAID) it names. pgcsms does not validate them: the Authorize answer carries no certificateStatus.';

COMMENT ON VIEW ocpp.anomalies IS
    'Things to review: unknown_transaction_stop (1.6 stop of an unknown transaction; 2.0.1 Ended event of a transaction never seen before, recorded from it), duplicate_stop (a second stop, or Ended event with another seqNo), superseded_transaction (left open when a new one started on its connector or EVSE), transaction_event_conflict (a 2.0.1 event reusing the seqNo of a different one: kept here, not applied), clock_skew, unknown_reservation (used by a transaction, or updated by the station, but not ours or no longer open), command_effect_failed (an answered command whose business effect failed; the answer itself is in ocpp.commands).';

GRANT SELECT ON ocpp.transaction_events, ocpp.contract_certificates TO pgcsms_reader;
