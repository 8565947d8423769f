-- OCPP 2.0.1 DataTransfer from a station (P02): the vendor registry of 1.6
-- answers (ocpp._receive_data_transfer, sql/functions/on_data_transfer.sql);
-- an unknown vendor or message is a status, never a CALLERROR (P02.FR.06/07).
-- Our DataTransfer's answer is kept by ocpp._effect_data_transfer, as in 1.6.
CREATE OR REPLACE FUNCTION ocpp.v201_data_transfer(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT jsonb_build_object('status', ocpp._receive_data_transfer(charge_point_id, payload))
$$;
COMMENT ON FUNCTION ocpp.v201_data_transfer(text, text, jsonb) IS
    'DataTransfer: stored in ocpp.data_transfers (data that is not a string as its JSON text); answered from ocpp.data_transfer_vendors: UnknownVendorId, UnknownMessageId, or the vendor''s status.';
