-- A 2.x session's energy kept exactly (before rounding to energy_wh), so that
-- an event that comes in order adds its readings' rises to it instead of
-- summing every reading of the session again
-- (sql/functions/v201/transaction_event.sql). NULL until derived.
ALTER TABLE pgcsms.transactions
    ADD COLUMN energy_used_wh numeric,
    ADD COLUMN last_reading_at timestamptz,
    ADD COLUMN last_reading_id bigint;
COMMENT ON COLUMN pgcsms.transactions.energy_used_wh IS
    '2.x: energy_wh before rounding (the sum of the counted rises of the Energy.Active.Import.Register readings), kept for adding the rises of the next readings.';
COMMENT ON COLUMN pgcsms.transactions.last_reading_at IS
    '2.x: sampled_at of the last reading energy_used_wh counts (with last_reading_id, the reading the next rise is measured from).';
COMMENT ON COLUMN pgcsms.transactions.last_reading_id IS
    '2.x: ocpp.meter_values id of the last reading energy_used_wh counts.';

-- It returns energy_used_wh too now: a new row type, so the old one goes.
DROP FUNCTION IF EXISTS ocpp._v201_transaction_energy(text, bigint);
