-- SecurityEventNotification and SignCertificate: the OCPP 1.6 Security
-- Whitepaper's and 2.0.1's carry the same fields, so both versions' handlers
-- (sql/functions/v201/security_events.sql, certificates.sql) store them here.

CREATE OR REPLACE FUNCTION ocpp._store_security_event(charge_point_id text, ocpp_version text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    -- The critical list and the event names are the version's.
    INSERT INTO pgcsms.security_events (charge_point_id, type, critical, tech_info, charger_at)
    VALUES (charge_point_id, payload->>'type',
            coalesce((SELECT t.critical FROM pgcsms.security_event_types AS t
                       WHERE t.ocpp_version = _store_security_event.ocpp_version AND t.type = payload->>'type'), false),
            payload->>'techInfo', ocpp._ts(payload->>'timestamp'));
    SELECT '{}'::jsonb
$$;
COMMENT ON FUNCTION ocpp._store_security_event(text, text, jsonb) IS
    'A SecurityEventNotification (type, timestamp, techInfo) stored in ocpp.security_events, flagged critical per the list of its OCPP version (pgcsms.security_event_types); returns the empty answer.';

CREATE OR REPLACE FUNCTION ocpp._store_csr(charge_point_id text, csr text, certificate_type text)
RETURNS jsonb
LANGUAGE sql
AS $$
    INSERT INTO pgcsms.certificate_signing_requests (charge_point_id, csr, certificate_type)
    VALUES (charge_point_id, csr, certificate_type);
    SELECT jsonb_build_object('status', 'Accepted')
$$;
COMMENT ON FUNCTION ocpp._store_csr(text, text, text) IS
    'A SignCertificate CSR kept for an operator to sign (ocpp.certificate_signing_requests, status Received); returns the answer, Accepted.';

CREATE OR REPLACE FUNCTION ocpp.on_security_event_notification(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp._store_security_event(charge_point_id, '1.6', payload)
$$;
COMMENT ON FUNCTION ocpp.on_security_event_notification(text, text, jsonb) IS
    'SecurityEventNotification: stored, flagged critical per the Security Whitepaper list.';

CREATE OR REPLACE FUNCTION ocpp.on_sign_certificate(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT ocpp._store_csr(charge_point_id, payload->>'csr', 'ChargePointCertificate')
$$;
COMMENT ON FUNCTION ocpp.on_sign_certificate(text, text, jsonb) IS
    'SignCertificate: keeps the CSR for an operator to sign (ocpp.certificate_signing_requests) and answers Accepted.';
