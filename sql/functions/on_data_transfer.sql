-- DataTransfer from a charger, in either OCPP version: the vendor registry
-- (ocpp.data_transfer_vendors) decides the answer. 2.0.1's data may be any
-- JSON: it is kept as text (a string as itself, anything else as JSON text);
-- the journal has it verbatim.
CREATE OR REPLACE FUNCTION ocpp._receive_data_transfer(charge_point_id text, payload jsonb)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
    vendor pgcsms.data_transfer_vendors;
    status text;
BEGIN
    SELECT * INTO vendor FROM pgcsms.data_transfer_vendors AS v WHERE v.vendor_id = payload->>'vendorId';
    IF NOT FOUND THEN
        status := 'UnknownVendorId';
    -- A vendor that names its messageIds knows no other, nor a message without one.
    ELSIF vendor.message_ids IS NOT NULL
          AND NOT coalesce((payload->>'messageId') = ANY (vendor.message_ids), false) THEN
        status := 'UnknownMessageId';
    ELSE
        status := vendor.status;
    END IF;
    INSERT INTO pgcsms.data_transfers (charge_point_id, vendor_id, message_id, data, status)
    VALUES (charge_point_id, payload->>'vendorId', payload->>'messageId', payload->>'data', status);
    RETURN status;
END
$$;
COMMENT ON FUNCTION ocpp._receive_data_transfer(text, jsonb) IS
    'A DataTransfer from a charger (vendorId, messageId, data), stored (ocpp.data_transfers, direction in) with the status it is answered: UnknownVendorId, UnknownMessageId, or the vendor''s status, from ocpp.data_transfer_vendors.';

CREATE OR REPLACE FUNCTION ocpp.on_data_transfer(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT jsonb_build_object('status', ocpp._receive_data_transfer(charge_point_id, payload))
$$;
COMMENT ON FUNCTION ocpp.on_data_transfer(text, text, jsonb) IS
    'DataTransfer: stored; answered from ocpp.data_transfer_vendors (UnknownVendorId, UnknownMessageId, or the vendor''s status).';

CREATE OR REPLACE FUNCTION ocpp.add_data_transfer_vendor(
    vendor_id text, status text DEFAULT 'Accepted', message_ids text[] DEFAULT NULL, description text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF status NOT IN ('Accepted', 'Rejected') THEN
        RAISE EXCEPTION 'status must be Accepted or Rejected, not %', quote_nullable(status)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO pgcsms.data_transfer_vendors AS v (vendor_id, status, message_ids, description)
    VALUES (vendor_id, status, message_ids, description)
    ON CONFLICT ON CONSTRAINT data_transfer_vendors_pkey DO UPDATE
       SET status = excluded.status, message_ids = excluded.message_ids,
           description = coalesce(excluded.description, v.description);
END
$$;
COMMENT ON FUNCTION ocpp.add_data_transfer_vendor(text, text, text[], text) IS
    'Accepts DataTransfer from a vendor: answered status, and optionally the only messageIds known (others: UnknownMessageId).';
REVOKE ALL ON FUNCTION ocpp.add_data_transfer_vendor(text, text, text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.add_data_transfer_vendor(text, text, text[], text) TO pgcsms_operator;
