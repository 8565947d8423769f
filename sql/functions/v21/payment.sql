-- OCPP 2.1 ad hoc payment (C18-C25): a payment terminal at the station (or a
-- web page, NotifyWebPaymentStarted) takes the payment; the station reports
-- its settlement (NotifySettlement) and may ask whether a VAT number the
-- customer gave is valid (VatNumberValidation). pgcsms makes no outbound
-- calls: VAT numbers are kept by an operator or an integration with a VAT
-- register (ocpp.set_vat_number), which can see what was asked in
-- ocpp.vat_number_validations.

CREATE OR REPLACE FUNCTION ocpp.v21_notify_settlement(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    tx bigint := (SELECT t.id FROM pgcsms.transactions AS t
                   WHERE t.charge_point_id = v21_notify_settlement.charge_point_id
                     AND t.remote_id = payload->>'transactionId');
BEGIN
    INSERT INTO pgcsms.settlements
        (charge_point_id, transaction_remote_id, transaction_id, psp_ref, status, status_info, settlement_amount,
         settled_at, receipt_id, receipt_url, vat_company, vat_number, unique_id)
    VALUES (charge_point_id, payload->>'transactionId', tx, payload->>'pspRef', payload->>'status',
            payload->>'statusInfo', (payload->>'settlementAmount')::numeric, ocpp._ts(payload->>'settlementTime'),
            payload->>'receiptId', payload->>'receiptUrl', payload->'vatCompany', payload->>'vatNumber', unique_id);
    PERFORM pg_notify('ocpp_event', jsonb_strip_nulls(jsonb_build_object(
        'event', 'settlement', 'charge_point_id', charge_point_id, 'transaction_id', tx,
        'remote_id', payload->>'transactionId', 'status', payload->>'status',
        'settlement_amount', (payload->>'settlementAmount')::numeric))::text);
    -- The station's receipt stands; pgcsms makes none of its own.
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v21_notify_settlement(text, text, jsonb) IS
    'NotifySettlement (2.1): the payment (pspRef, status Settled, Canceled, Rejected or Failed, amount, time, receipt, VAT data) into ocpp.settlements against the transaction it names (ours when we know it) and NOTIFY ocpp_event {"event":"settlement",...}. Answers {} (no receipt of our own).';

-- An AddressType as the station expects it back: OCPP's field lengths.
CREATE OR REPLACE FUNCTION ocpp._check_address(address jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    wrong text;
BEGIN
    IF address IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT string_agg(f.name, ', ' ORDER BY f.name) INTO wrong
      FROM (VALUES ('name', 50, true), ('address1', 100, true), ('address2', 100, false), ('city', 100, true),
                   ('postalCode', 20, false), ('country', 50, true)) AS f (name, longest, required)
     WHERE CASE WHEN address ? f.name THEN jsonb_typeof(address->f.name) <> 'string'
                                           OR length(address->>f.name) > f.longest
                ELSE f.required END;
    IF jsonb_typeof(address) <> 'object' OR wrong IS NOT NULL
       OR EXISTS (SELECT FROM jsonb_object_keys(address) AS k
                   WHERE k NOT IN ('name', 'address1', 'address2', 'city', 'postalCode', 'country')) THEN
        RAISE EXCEPTION 'not an OCPP AddressType: %', coalesce(wrong, address::text)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = '{"name": (50), "address1": (100), "city": (100), "country": (50)} required; address2 (100), postalCode (20) optional';
    END IF;
    RETURN address;
END
$$;
COMMENT ON FUNCTION ocpp._check_address(jsonb) IS
    'The address if it is an OCPP 2.1 AddressType (name, address1, city, country required; address2, postalCode; their lengths), else invalid_parameter_value.';

CREATE OR REPLACE FUNCTION ocpp.set_vat_number(
    vat_number text, status text DEFAULT 'Accepted', company jsonb DEFAULT NULL, description text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF vat_number IS NULL OR vat_number = '' OR length(vat_number) > 20 THEN
        RAISE EXCEPTION 'a VAT number is 1 to 20 characters, not %', quote_nullable(vat_number)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF status IS NULL OR status NOT IN ('Accepted', 'Rejected') THEN
        RAISE EXCEPTION 'status is Accepted (valid) or Rejected, not %', quote_nullable(status)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE pgcsms.vat_numbers AS v
       SET vat_number = set_vat_number.vat_number, status = set_vat_number.status,
           company = ocpp._check_address(set_vat_number.company),
           description = coalesce(set_vat_number.description, v.description), updated_at = now()
     WHERE upper(v.vat_number) = upper(set_vat_number.vat_number);
    IF NOT FOUND THEN
        INSERT INTO pgcsms.vat_numbers (vat_number, status, company, description)
        VALUES (set_vat_number.vat_number, set_vat_number.status, ocpp._check_address(set_vat_number.company),
                set_vat_number.description);
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp.set_vat_number(text, text, jsonb, text) IS
    'Keeps a VAT number for VatNumberValidation (OCPP 2.1): status Accepted (valid; company, an AddressType {name, address1, address2, city, postalCode, country}, is sent back with it) or Rejected. Matched ignoring case; replaces what was known.';
REVOKE ALL ON FUNCTION ocpp.set_vat_number(text, text, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_vat_number(text, text, jsonb, text) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.remove_vat_number(vat_number text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM pgcsms.vat_numbers AS v WHERE upper(v.vat_number) = upper(remove_vat_number.vat_number);
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION ocpp.remove_vat_number(text) IS
    'Forgets a VAT number (ocpp.vat_numbers): true if it was known. VatNumberValidation then answers Rejected, reasonCode NotFound.';
REVOKE ALL ON FUNCTION ocpp.remove_vat_number(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.remove_vat_number(text) TO pgcsms_operator;

-- Unknown is not valid: Rejected, with reasonCode NotFound so that the
-- station (and whoever reads ocpp.vat_number_validations) can tell it from a
-- number known to be invalid.
CREATE OR REPLACE FUNCTION ocpp.v21_vat_number_validation(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    known pgcsms.vat_numbers;
    answer jsonb;
BEGIN
    SELECT * INTO known FROM pgcsms.vat_numbers AS v WHERE upper(v.vat_number) = upper(payload->>'vatNumber');
    answer := jsonb_strip_nulls(jsonb_build_object(
        'vatNumber', payload->>'vatNumber', 'evseId', payload->'evseId',
        'status', coalesce(known.status, 'Rejected'),
        'company', CASE WHEN known.status = 'Accepted' THEN known.company END,
        'statusInfo', CASE WHEN known.status IS NULL THEN jsonb_build_object(
            'reasonCode', 'NotFound', 'additionalInfo', 'VAT number not known to this CSMS') END));
    INSERT INTO pgcsms.vat_number_validations (charge_point_id, vat_number, evse_id, status, known, unique_id)
    VALUES (charge_point_id, payload->>'vatNumber', (payload->>'evseId')::integer, answer->>'status',
            known.status IS NOT NULL, unique_id);
    RETURN answer;
END
$$;
COMMENT ON FUNCTION ocpp.v21_vat_number_validation(text, text, jsonb) IS
    'VatNumberValidation (2.1): answered from ocpp.vat_numbers: Accepted with the company''s address, or Rejected; a number not listed is Rejected with statusInfo reasonCode NotFound. Each request kept in ocpp.vat_number_validations.';

CREATE OR REPLACE FUNCTION ocpp.notify_web_payment_started(
    charge_point_id text, evse_id integer, timeout integer, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'NotifyWebPaymentStarted',
                     jsonb_build_object('evseId', evse_id, 'timeout', timeout), expires_at)
$$;
COMMENT ON FUNCTION ocpp.notify_web_payment_started(text, integer, integer, timestamptz) IS
    'Queues NotifyWebPaymentStarted (OCPP 2.1, C25): a driver opened the payment page of the station''s dynamic QR code for evse_id; the station waits timeout seconds for the payment (then RequestStartTransaction follows, ocpp.request_start_transaction). Answered {} (completed). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.notify_web_payment_started(text, integer, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.notify_web_payment_started(text, integer, integer, timestamptz) TO pgcsms_operator;
