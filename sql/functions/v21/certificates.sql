-- OCPP 2.1 GetCertificateChainStatus (M): the station asks the revocation
-- status of each certificate of a chain (an EV's contract certificate, up to
-- four), by OCSP or CRL, as 2.0.1's GetCertificateStatus asks one by OCSP.
-- pgcsms makes no outbound calls: statuses are those an operator or an
-- integration keeps in ocpp.certificate_statuses (ocpp.set_certificate_status).
CREATE OR REPLACE FUNCTION ocpp.v21_get_certificate_chain_status(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    answers jsonb;
BEGIN
    WITH asked AS (
        SELECT r.n, r.q, k.status, k.valid_until
          FROM jsonb_array_elements(ocpp._array(payload->'certificateStatusRequests')) WITH ORDINALITY AS r(q, n)
          LEFT JOIN pgcsms.certificate_statuses AS k
                 ON k.hash_algorithm = r.q->'certificateHashData'->>'hashAlgorithm'
                AND upper(k.issuer_name_hash) = upper(r.q->'certificateHashData'->>'issuerNameHash')
                AND upper(k.issuer_key_hash) = upper(r.q->'certificateHashData'->>'issuerKeyHash')
                AND upper(k.serial_number) = upper(r.q->'certificateHashData'->>'serialNumber')),
    answered AS (
        -- A status we hold while it is valid; none, or expired: Failed, ask
        -- again at once (nextUpdate now).
        SELECT a.n, a.q,
               CASE WHEN a.status IS NOT NULL AND (a.valid_until IS NULL OR a.valid_until > now()) THEN a.status
                    ELSE 'Failed' END AS status,
               CASE WHEN a.valid_until > now() THEN a.valid_until ELSE now() END AS next_update
          FROM asked AS a),
    kept AS (
        INSERT INTO pgcsms.certificate_status_requests
            (charge_point_id, hash_algorithm, issuer_name_hash, issuer_key_hash, serial_number, responder_url,
             status, unique_id, source)
        SELECT v21_get_certificate_chain_status.charge_point_id, a.q->'certificateHashData'->>'hashAlgorithm',
               a.q->'certificateHashData'->>'issuerNameHash', a.q->'certificateHashData'->>'issuerKeyHash',
               a.q->'certificateHashData'->>'serialNumber', coalesce(a.q->'urls'->>0, ''), a.status,
               v21_get_certificate_chain_status.unique_id, a.q->>'source'
          FROM answered AS a)
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'certificateHashData', a.q->'certificateHashData', 'source', a.q->>'source', 'status', a.status,
               'nextUpdate', ocpp._iso(a.next_update)) ORDER BY a.n), '[]')
      INTO answers
      FROM answered AS a;
    RETURN jsonb_build_object('certificateStatus', answers);
END
$$;
COMMENT ON FUNCTION ocpp.v21_get_certificate_chain_status(text, text, jsonb) IS
    'GetCertificateChainStatus (2.1): for each certificate asked about, the status ocpp.certificate_statuses holds for it (Good, Revoked, Unknown) while it is valid, with its valid_until as nextUpdate; else Failed, nextUpdate now. Each kept in ocpp.certificate_status_requests with its source (OCSP or CRL) and first URL.';
