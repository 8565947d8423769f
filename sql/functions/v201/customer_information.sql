-- OCPP 2.0.1 customer information (N09/N10): the pages a station sends about a
-- customer after our CustomerInformation (ocpp.customer_information, the
-- helper), kept in order.
CREATE OR REPLACE FUNCTION ocpp.v201_notify_customer_information(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    INSERT INTO pgcsms.customer_information
        (charge_point_id, request_id, command_id, seq_no, tbc, data, generated_at, unique_id)
    VALUES (charge_point_id, (payload->>'requestId')::integer,
            ocpp._command_of_request(charge_point_id, 'CustomerInformation', (payload->>'requestId')::integer),
            (payload->>'seqNo')::integer, coalesce((payload->>'tbc')::boolean, false), payload->>'data',
            ocpp._ts(payload->>'generatedAt'), unique_id);
    SELECT '{}'::jsonb
$$;
COMMENT ON FUNCTION ocpp.v201_notify_customer_information(text, text, jsonb) IS
    'NotifyCustomerInformation: the page (seqNo, tbc, data, generatedAt) kept in ocpp.customer_information, linked to the CustomerInformation command of its requestId; answered {}.';
