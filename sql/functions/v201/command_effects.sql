-- OCPP 2.0.1: what an answered command changes besides its own row, one
-- function per action (ocpp._v201_effect_<action in snake case>, in the file
-- of its concern in this folder). Called by ocpp._command_effect for commands
-- sent to a 2.0.1 station. Actions not listed: the answer in the command row
-- is the whole record (Reset, ClearCache, UnlockConnector, CostUpdated, ...).
CREATE OR REPLACE FUNCTION ocpp._command_effect_v201(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    CASE c.action
        -- Provisioning, device model, security (B, A, N monitoring)
        WHEN 'GetVariables' THEN PERFORM ocpp._v201_effect_get_variables(c);
        WHEN 'SetVariables' THEN PERFORM ocpp._v201_effect_set_variables(c);
        WHEN 'GetBaseReport', 'GetReport', 'GetMonitoringReport' THEN PERFORM ocpp._v201_effect_report_request(c);
        WHEN 'SetNetworkProfile' THEN PERFORM ocpp._v201_effect_set_network_profile(c);
        WHEN 'ChangeAvailability' THEN PERFORM ocpp._v201_effect_change_availability(c);
        WHEN 'SetVariableMonitoring' THEN PERFORM ocpp._v201_effect_set_variable_monitoring(c);
        WHEN 'ClearVariableMonitoring' THEN PERFORM ocpp._v201_effect_clear_variable_monitoring(c);
        -- Authorization, local list, transactions, reservations (C, D, E, F, H)
        WHEN 'RequestStartTransaction' THEN PERFORM ocpp._v201_effect_request_start_transaction(c);
        WHEN 'SendLocalList' THEN PERFORM ocpp._v201_effect_send_local_list(c);
        WHEN 'GetLocalListVersion' THEN PERFORM ocpp._v201_effect_get_local_list_version(c);
        WHEN 'ReserveNow' THEN PERFORM ocpp._v201_effect_reserve_now(c);
        WHEN 'CancelReservation' THEN PERFORM ocpp._v201_effect_cancel_reservation(c);
        -- Smart charging, firmware, diagnostics, certificates, display, data (K, L, M, N, O, P)
        WHEN 'SetChargingProfile' THEN PERFORM ocpp._v201_effect_set_charging_profile(c);
        WHEN 'ClearChargingProfile' THEN PERFORM ocpp._v201_effect_clear_charging_profile(c);
        WHEN 'GetCompositeSchedule' THEN PERFORM ocpp._v201_effect_get_composite_schedule(c);
        WHEN 'UpdateFirmware', 'GetLog', 'PublishFirmware', 'UnpublishFirmware' THEN PERFORM ocpp._effect_job(c);
        WHEN 'InstallCertificate', 'CertificateSigned', 'GetInstalledCertificateIds', 'DeleteCertificate' THEN
            PERFORM ocpp._v201_effect_certificates(c);
        WHEN 'SetDisplayMessage', 'ClearDisplayMessage', 'GetDisplayMessages' THEN PERFORM ocpp._v201_effect_display_message(c);
        WHEN 'DataTransfer' THEN PERFORM ocpp._effect_data_transfer(c);
        ELSE NULL;
    END CASE;
END
$$;
COMMENT ON FUNCTION ocpp._command_effect_v201(pgcsms.commands) IS
    'Routes a finished command sent to an OCPP 2.0.1 station to the business effect of its action (sql/functions/v201/).';
