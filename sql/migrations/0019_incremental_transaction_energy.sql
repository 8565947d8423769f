-- A 2.x session's energy kept exactly (before rounding to energy_wh), so that
-- an event that comes in order adds its readings' rises to it instead of
-- summing every reading of the session again
-- (sql/functions/v201/transaction_event.sql). NULL until derived.
ALTER TABLE pgcsms.transactions ADD COLUMN energy_used_wh numeric;
COMMENT ON COLUMN pgcsms.transactions.energy_used_wh IS
    '2.x: energy_wh before rounding (the sum of the counted rises of the Energy.Active.Import.Register readings), kept for adding the rises of the next readings.';

-- It returns energy_used_wh too now: a new row type, so the old one goes.
DROP FUNCTION IF EXISTS ocpp._v201_transaction_energy(text, bigint);
