-- Tariffs and cost (OCPP 2.1 functional block I, priced in SQL for 2.0.1 and
-- 2.1 sessions). A tariff is kept as the OCPP 2.1 TariffType JSON the station
-- gets, so pgcsms and the station price a session from the same words. Its
-- rules are in sql/functions/tariffs.sql; the commands that carry it to a 2.1
-- station in sql/functions/v21/tariff_commands.sql.

-- Tariffs per station: a default one per EVSE (evse_id 0: the whole
-- station), in force from valid_from, and per transaction (transaction_id,
-- ours: ChangeTransactionTariff), in force for that transaction from
-- valid_from. Rows are never rewritten with another tariff: a new tariff is a
-- new row, and a cleared one keeps its row (cleared_at) so that a session
-- priced with it can be priced again. station_status/at_station: what a 2.1
-- station said about it (NULL for stations of other versions: pgcsms only).
CREATE TABLE pgcsms.tariffs (
    charge_point_id   text NOT NULL REFERENCES pgcsms.charge_points ON DELETE CASCADE,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    evse_id           integer NOT NULL CHECK (evse_id >= 0),
    transaction_id    bigint,
    tariff_id         text NOT NULL CHECK (tariff_id <> '' AND length(tariff_id) <= 60),
    currency          text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    tariff            jsonb NOT NULL CHECK (jsonb_typeof(tariff) = 'object'),
    valid_from        timestamptz NOT NULL,
    cleared_at        timestamptz,
    command_id        bigint,
    station_status    text,
    at_station        boolean,
    clear_command_id  bigint,
    created_by        text NOT NULL DEFAULT session_user,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
-- The defaults of an EVSE, newest first (the tariff a session gets).
CREATE INDEX tariffs_defaults ON pgcsms.tariffs (charge_point_id, evse_id, valid_from)
    WHERE transaction_id IS NULL AND cleared_at IS NULL;
-- A tariffId names one default tariff per EVSE while it is not cleared.
CREATE UNIQUE INDEX tariffs_default_id ON pgcsms.tariffs (charge_point_id, evse_id, tariff_id)
    WHERE transaction_id IS NULL AND cleared_at IS NULL;
CREATE INDEX tariffs_transaction ON pgcsms.tariffs (transaction_id, valid_from) WHERE transaction_id IS NOT NULL;
CREATE INDEX tariffs_command ON pgcsms.tariffs (charge_point_id, command_id) WHERE command_id IS NOT NULL;

-- The final cost of a session, from its tariff (ocpp._transaction_cost):
-- total_cost including taxes, in currency (ISO 4217); cost_details its
-- breakdown as an OCPP 2.1 CostDetailsType. NULL: no tariff applied, or not
-- ended yet.
ALTER TABLE pgcsms.transactions
    ADD COLUMN total_cost numeric,
    ADD COLUMN currency text,
    ADD COLUMN cost_details jsonb;

-- Tariff conditions (startTimeOfDay, dayOfWeek, validFromDate, ...) are in
-- local time. A station that reports its ClockCtrlr.TimeZone is priced in
-- that zone; the others in this one.
INSERT INTO pgcsms.settings (key, value, description) VALUES
    ('tariff_time_zone', 'UTC',
     'Time zone (e.g. Europe/Berlin) of the time-of-day, day-of-week and date conditions of tariffs, for stations that do not report their ClockCtrlr.TimeZone')
ON CONFLICT (key) DO NOTHING;

-- Helpers of the OCPP 2.1 tariff commands (ocpp.command_actions).
INSERT INTO pgcsms.command_actions (ocpp_version, action, helper) VALUES
    ('2.1', 'SetDefaultTariff', 'ocpp.set_default_tariff'),
    ('2.1', 'ChangeTransactionTariff', 'ocpp.change_transaction_tariff'),
    ('2.1', 'GetTariffs', 'ocpp.get_tariffs'),
    ('2.1', 'ClearTariffs', 'ocpp.clear_tariffs')
ON CONFLICT (ocpp_version, action) DO NOTHING;

CREATE VIEW ocpp.tariffs AS
    SELECT t.id, t.charge_point_id, t.evse_id, t.transaction_id,
           CASE WHEN t.transaction_id IS NULL THEN 'default' ELSE 'transaction' END AS kind,
           t.tariff_id, t.currency, t.valid_from, t.cleared_at,
           t.cleared_at IS NULL AND t.valid_from <= now()
               AND NOT EXISTS (SELECT FROM pgcsms.tariffs AS n
                                WHERE n.charge_point_id = t.charge_point_id AND n.evse_id = t.evse_id
                                  AND n.transaction_id IS NOT DISTINCT FROM t.transaction_id
                                  AND n.cleared_at IS NULL AND n.valid_from <= now()
                                  AND (n.valid_from, n.id) > (t.valid_from, t.id)) AS in_force,
           t.tariff, t.command_id, t.station_status, t.at_station, t.clear_command_id, t.created_by,
           t.created_at, t.updated_at
      FROM pgcsms.tariffs AS t;
COMMENT ON VIEW ocpp.tariffs IS
    'Tariffs, as OCPP 2.1 TariffType JSON (tariff). kind default: set with ocpp.set_default_tariff for one EVSE (evse_id; 0: the whole station), in force from valid_from (its validFrom, else when it was set) until a newer one of the same EVSE is, or until cleared_at (ocpp.clear_tariffs). kind transaction: set with ocpp.change_transaction_tariff for one session (transaction_id: ocpp.transactions.id) from valid_from on. in_force: the one of its EVSE (or transaction) in force now. A session is priced with its transaction tariff, else the default of its EVSE, else of the station, in force when it started (ocpp.transactions.total_cost). 2.1 stations get their tariffs by command (command_id: SetDefaultTariff or ChangeTransactionTariff; clear_command_id: ClearTariffs): station_status is their answer (Accepted, Rejected, TooManyElements, ConditionNotSupported, DuplicateTariffId, TxNotFound, NoCurrencyChange) or what became of the command (failed, timeout, interrupted, expired, cancelled); at_station: the station holds it (true), does not (false), not known (NULL; always NULL for stations of other versions, which pgcsms prices alone).';
GRANT SELECT ON ocpp.tariffs TO pgcsms_reader;

-- The columns of 0010, then the cost at the end.
CREATE OR REPLACE VIEW ocpp.transactions AS
    SELECT id, charge_point_id, evse_id, connector_id, id_tag, parent_id_tag, authorization_status,
           reservation_id, meter_start, meter_stop,
           CASE WHEN ocpp_version = '1.6' THEN meter_stop - meter_start ELSE energy_wh END AS energy_wh,
           started_at, stopped_at, stopped_at - started_at AS duration, stop_reason, stop_id_tag,
           start_received_at, stop_received_at, remote_id, remote_command_id,
           CASE WHEN ocpp_version = '1.6' THEN id::text ELSE remote_id END AS transaction_id,
           ocpp_version, id_token_type, start_trigger_reason, stop_trigger_reason, charging_state,
           time_spent_charging, remote_start_id, offline, last_seq_no, stop_id_token_type,
           total_cost, currency, cost_details
      FROM pgcsms.transactions;
COMMENT ON VIEW ocpp.transactions IS
    'Charging sessions of every OCPP version. id is ours; transaction_id is the one on the wire (1.6: id, which we gave the charger; 2.0.1: the station''s transactionId, also in remote_id). started_at/stopped_at are charger times, *_received_at ours; an open session has stopped_at NULL. Energy in Wh: 1.6 energy_wh = meter_stop - meter_start; 2.0.1 meter_start and meter_stop are the first and last Energy.Active.Import.Register reading (Outlet, all phases) and energy_wh, kept up to date during the session, sums the steps between consecutive readings, leaving out a step that would mean more power than the energy_step_max_kw setting (a register read as 0 at Transaction.Begin after an offline period, then the lifetime register). id_tag/parent_id_tag/authorization_status: the token that started it, its group and what we answered; stop_id_tag: the one that stopped it. stop_reason: 1.6 reason, 2.0.1 stoppedReason (Local when absent). 2.0.1 only: start_trigger_reason/stop_trigger_reason (of the Started and Ended events; NULL while not received), charging_state and time_spent_charging (latest by seqNo), offline (some event was queued while offline), last_seq_no; its events are in ocpp.transaction_events. remote_command_id: the RemoteStartTransaction or RequestStartTransaction (remote_start_id) that started it. total_cost (including taxes) and currency: the final cost of a 2.0.1 or 2.1 session from its tariff (ocpp.tariffs), set when it ends; cost_details: its breakdown (OCPP 2.1 CostDetailsType: chargingPeriods, totalCost per component with and without tax, totalUsage). NULL when no tariff applied.';
