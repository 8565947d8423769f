-- OCPP 2.0.1 certificates (A02/A03, M): the station's SignCertificate,
-- Get15118EVCertificate and GetCertificateStatus, and the effects of our
-- InstallCertificate, CertificateSigned, GetInstalledCertificateIds and
-- DeleteCertificate, which read the 2.0.1 fields into the rules 1.6 shares
-- (sql/functions/command_effect_certificates.sql).

CREATE OR REPLACE FUNCTION ocpp.v201_sign_certificate(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp._store_csr(charge_point_id, payload->>'csr', payload->>'certificateType')
$$;
COMMENT ON FUNCTION ocpp.v201_sign_certificate(text, text, jsonb) IS
    'SignCertificate: keeps the CSR and its certificateType (ChargingStationCertificate, V2GCertificate, none: both) for an operator to sign (ocpp.certificate_signing_requests, then ocpp.certificate_signed); answers Accepted.';

-- ISO 15118 contract certificates come from a contract certificate pool
-- through a V2G PKI (M01/M02). pgcsms has neither, and the answer cannot wait
-- for an outside system (it is given in the transaction of the CALL), so
-- requests are kept for an operator to see and answered Failed. An EV that
-- retries sends a new EXI request: there is nothing to fulfil later.
CREATE OR REPLACE FUNCTION ocpp.v201_get15118_ev_certificate(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    INSERT INTO pgcsms.ev_certificate_requests
        (charge_point_id, iso15118_schema_version, action, exi_request, status, unique_id)
    VALUES (charge_point_id, payload->>'iso15118SchemaVersion', payload->>'action', payload->>'exiRequest', 'Failed',
            unique_id);
    SELECT jsonb_build_object(
        'status', 'Failed', 'exiResponse', '',
        'statusInfo', jsonb_build_object(
            'reasonCode', 'UnsupportedRequest',
            'additionalInfo', 'This CSMS has no ISO 15118 contract certificate pool (V2G PKI) to forward the request to'))
$$;
COMMENT ON FUNCTION ocpp.v201_get15118_ev_certificate(text, text, jsonb) IS
    'Get15118EVCertificate: kept in ocpp.ev_certificate_requests and answered Failed (statusInfo UnsupportedRequest): pgcsms has no V2G PKI nor contract certificate pool.';

-- OCSP (M06): the station asks for the status of a certificate (typically an
-- EV's contract certificate chain) to relay to the EV. pgcsms makes no
-- outbound calls: the OCSP responses are kept by an operator or an
-- integration (ocpp.set_certificate_status), which can watch
-- ocpp.certificate_status_requests for what was asked and failed.
CREATE OR REPLACE FUNCTION ocpp.v201_get_certificate_status(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    asked jsonb := payload->'ocspRequestData';
    known pgcsms.certificate_statuses;
    answer jsonb;
BEGIN
    SELECT * INTO known FROM pgcsms.certificate_statuses AS s
     WHERE s.hash_algorithm = asked->>'hashAlgorithm'
       AND upper(s.issuer_name_hash) = upper(asked->>'issuerNameHash')
       AND upper(s.issuer_key_hash) = upper(asked->>'issuerKeyHash')
       AND upper(s.serial_number) = upper(asked->>'serialNumber');
    -- M06.FR.02: Accepted carries the OCSP response; without a valid one, Failed.
    IF known.ocsp_result IS NOT NULL AND (known.valid_until IS NULL OR known.valid_until > now()) THEN
        answer := jsonb_build_object('status', 'Accepted', 'ocspResult', known.ocsp_result);
    ELSE
        answer := jsonb_build_object('status', 'Failed', 'statusInfo', jsonb_build_object(
            'reasonCode', 'NotFound',
            'additionalInfo', CASE WHEN known.status IS NULL THEN 'No OCSP response known for this certificate'
                                   WHEN known.ocsp_result IS NULL THEN 'Status ' || known.status || ' known, but no OCSP response to relay'
                                   ELSE 'The OCSP response known for this certificate has expired' END));
    END IF;
    INSERT INTO pgcsms.certificate_status_requests
        (charge_point_id, hash_algorithm, issuer_name_hash, issuer_key_hash, serial_number, responder_url, status,
         unique_id)
    VALUES (v201_get_certificate_status.charge_point_id, asked->>'hashAlgorithm', asked->>'issuerNameHash',
            asked->>'issuerKeyHash', asked->>'serialNumber', asked->>'responderURL', answer->>'status',
            v201_get_certificate_status.unique_id);
    RETURN answer;
END
$$;
COMMENT ON FUNCTION ocpp.v201_get_certificate_status(text, text, jsonb) IS
    'GetCertificateStatus: answered Accepted with the OCSP response ocpp.certificate_statuses holds for the certificate while it is valid, else Failed (statusInfo NotFound); each request kept in ocpp.certificate_status_requests.';

CREATE OR REPLACE FUNCTION ocpp.set_certificate_status(
    hash_algorithm text, issuer_name_hash text, issuer_key_hash text, serial_number text, status text,
    ocsp_result text DEFAULT NULL, valid_until timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF status IS NULL OR status NOT IN ('Good', 'Revoked', 'Unknown') THEN
        RAISE EXCEPTION 'status is Good, Revoked or Unknown (what the OCSP response says), not %', quote_nullable(status)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF hash_algorithm IS NULL OR hash_algorithm NOT IN ('SHA256', 'SHA384', 'SHA512') THEN
        RAISE EXCEPTION 'hash_algorithm is SHA256, SHA384 or SHA512, not %', quote_nullable(hash_algorithm)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO pgcsms.certificate_statuses AS s
        (hash_algorithm, issuer_name_hash, issuer_key_hash, serial_number, status, ocsp_result, valid_until)
    VALUES (set_certificate_status.hash_algorithm, set_certificate_status.issuer_name_hash,
            set_certificate_status.issuer_key_hash, set_certificate_status.serial_number, set_certificate_status.status,
            set_certificate_status.ocsp_result, set_certificate_status.valid_until)
    ON CONFLICT (hash_algorithm, upper(issuer_name_hash), upper(issuer_key_hash), upper(serial_number)) DO UPDATE
       SET status = excluded.status, ocsp_result = excluded.ocsp_result, valid_until = excluded.valid_until,
           updated_at = now();
END
$$;
COMMENT ON FUNCTION ocpp.set_certificate_status(text, text, text, text, text, text, timestamptz) IS
    'Keeps the OCSP status of a certificate (its hash data as OCSPRequestData names it: hash_algorithm SHA256 | SHA384 | SHA512, issuer name and key hashes, serial number): status Good | Revoked | Unknown, ocsp_result the DER OCSPResponse in base64 that GetCertificateStatus relays (M06.FR.08/09), valid_until its nextUpdate. Replaces what was known.';
REVOKE ALL ON FUNCTION ocpp.set_certificate_status(text, text, text, text, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_certificate_status(text, text, text, text, text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp._v201_effect_certificates(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    CASE c.action
    WHEN 'InstallCertificate' THEN
        IF c.status = 'accepted' THEN
            PERFORM ocpp._certificate_installed(c.charge_point_id, c.payload->>'certificateType',
                                                c.payload->>'certificate', c.id);
        END IF;
    WHEN 'CertificateSigned' THEN
        -- No certificateType: the station uses it for both connections; kept
        -- as its CSMS connection certificate.
        IF c.status = 'accepted' THEN
            PERFORM ocpp._certificate_signed(c.charge_point_id,
                                             coalesce(c.payload->>'certificateType', 'ChargingStationCertificate'),
                                             c.payload->>'certificateChain', c.id);
        END IF;
    WHEN 'GetInstalledCertificateIds' THEN
        IF c.status IN ('accepted', 'rejected') THEN
            PERFORM ocpp._certificates_reported(
                c.charge_point_id, c.id,
                CASE WHEN jsonb_typeof(c.payload->'certificateType') = 'array'
                     THEN ARRAY(SELECT jsonb_array_elements_text(c.payload->'certificateType')) END,
                c.response->>'status', c.response->'certificateHashDataChain');
        END IF;
    WHEN 'DeleteCertificate' THEN
        IF c.status = 'accepted' THEN
            PERFORM ocpp._certificate_deleted(c.charge_point_id, c.payload->'certificateHashData');
        END IF;
    END CASE;
END
$$;
COMMENT ON FUNCTION ocpp._v201_effect_certificates(pgcsms.commands) IS
    'OCPP 2.0.1 certificate commands answered: InstallCertificate Accepted adds the PEM; CertificateSigned Accepted replaces the station''s certificate of its type and marks the CSR Signed; GetInstalledCertificateIds replaces the reported chains of the types asked for (none: every type; NotFound: removes them); DeleteCertificate Accepted removes the rows with its hash data.';
