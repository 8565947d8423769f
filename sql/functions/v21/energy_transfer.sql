-- OCPP 2.1 bidirectional power transfer (Q): which energy transfer modes a
-- session may use (NotifyAllowedEnergyTransfer, Q01: after a V2X
-- authorization) and the grid operator's aFRR signal (AFRRSignal, Q07:
-- frequency restoration, acted on by the station's charging profiles).

CREATE OR REPLACE FUNCTION ocpp.notify_allowed_energy_transfer(
    charge_point_id text, transaction_id text, allowed_energy_transfer text[], expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF cardinality(allowed_energy_transfer) IS NULL OR cardinality(allowed_energy_transfer) = 0 THEN
        RAISE EXCEPTION 'allowed_energy_transfer names one energy transfer mode or more'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'e.g. ARRAY[''AC_BPT'', ''DC_BPT''] (EnergyTransferModeEnumType)';
    END IF;
    RETURN ocpp.send(charge_point_id, 'NotifyAllowedEnergyTransfer', jsonb_build_object(
        'transactionId', transaction_id, 'allowedEnergyTransfer', to_jsonb(allowed_energy_transfer)), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.notify_allowed_energy_transfer(text, text, text[], timestamptz) IS
    'Queues NotifyAllowedEnergyTransfer (OCPP 2.1, Q01): the energy transfer modes (EnergyTransferModeEnumType: AC_single_phase, AC_BPT, DC_BPT, ...) the station''s transaction (transaction_id: its transactionId) may use. Accepted: they are in ocpp.transaction_details.allowed_energy_transfer. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.notify_allowed_energy_transfer(text, text, text[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.notify_allowed_energy_transfer(text, text, text[], timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp._v21_effect_notify_allowed_energy_transfer(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    UPDATE pgcsms.transactions AS t
       SET allowed_energy_transfer = ARRAY(SELECT jsonb_array_elements_text(ocpp._array(c.payload->'allowedEnergyTransfer')))
     WHERE t.charge_point_id = c.charge_point_id AND t.remote_id = c.payload->>'transactionId'
       AND c.status = 'accepted'
$$;
COMMENT ON FUNCTION ocpp._v21_effect_notify_allowed_energy_transfer(pgcsms.commands) IS
    'NotifyAllowedEnergyTransfer answered Accepted: the allowed modes on the transaction it named (ocpp.transaction_details.allowed_energy_transfer).';

CREATE OR REPLACE FUNCTION ocpp.afrr_signal(
    charge_point_id text, signal integer, "timestamp" timestamptz DEFAULT now(), expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'AFRRSignal', jsonb_build_object(
        'timestamp', ocpp._iso(coalesce("timestamp", now())), 'signal', signal), expires_at)
$$;
COMMENT ON FUNCTION ocpp.afrr_signal(text, integer, timestamptz, timestamptz) IS
    'Queues AFRRSignal (OCPP 2.1, Q07): the automatic frequency restoration reserve signal (an integer the station maps through the signal-watt curve of its charging profiles, e.g. -1, 0, 1) in force from "timestamp" (now by default). Answered Accepted or Rejected (the command row keeps it). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.afrr_signal(text, integer, timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.afrr_signal(text, integer, timestamptz, timestamptz) TO pgcsms_operator;
