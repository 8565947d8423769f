-- OCPP 2.1: what an answered command changes besides its own row, for the
-- commands 2.1 adds (ocpp._v21_effect_<action in snake case>, in the file of
-- its concern in this folder; the tariff commands' in tariff_commands.sql);
-- the commands 2.0.1 has too go to 2.0.1's effects. Called by
-- ocpp._command_effect for commands sent to a 2.1 station. Not listed:
-- RequestBatterySwap (BatterySwap links it by requestId), GetDERControl
-- (ReportDERControl links it by requestId), NotifyWebPaymentStarted and
-- AFRRSignal: the answer in the command row is the whole record.
CREATE OR REPLACE FUNCTION ocpp._command_effect_v21(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    CASE c.action
        -- DER control (R)
        WHEN 'SetDERControl', 'ClearDERControl' THEN PERFORM ocpp._v21_effect_der_control(c);
        -- Smart charging and bidirectional power transfer (K, Q)
        WHEN 'UsePriorityCharging' THEN PERFORM ocpp._v21_effect_use_priority_charging(c);
        WHEN 'UpdateDynamicSchedule' THEN PERFORM ocpp._v21_effect_update_dynamic_schedule(c);
        WHEN 'NotifyAllowedEnergyTransfer' THEN PERFORM ocpp._v21_effect_notify_allowed_energy_transfer(c);
        -- Periodic event streams (N)
        WHEN 'GetPeriodicEventStream', 'AdjustPeriodicEventStream' THEN
            PERFORM ocpp._v21_effect_periodic_event_stream(c);
        -- Tariffs (I), sql/functions/v21/tariff_commands.sql
        WHEN 'SetDefaultTariff' THEN PERFORM ocpp._v21_effect_set_default_tariff(c);
        WHEN 'ChangeTransactionTariff' THEN PERFORM ocpp._v21_effect_change_transaction_tariff(c);
        WHEN 'ClearTariffs' THEN PERFORM ocpp._v21_effect_clear_tariffs(c);
        WHEN 'GetTariffs' THEN PERFORM ocpp._v21_effect_get_tariffs(c);
        ELSE PERFORM ocpp._command_effect_v201(c);
    END CASE;
END
$$;
COMMENT ON FUNCTION ocpp._command_effect_v21(pgcsms.commands) IS
    'Routes a finished command sent to an OCPP 2.1 station to the business effect of its action: the commands 2.1 adds in sql/functions/v21/, the others to 2.0.1''s (ocpp._command_effect_v201).';
