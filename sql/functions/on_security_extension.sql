CREATE OR REPLACE FUNCTION ocpp.on_security_event_notification(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO pgcsms.security_events (charge_point_id, type, critical, tech_info, charger_at)
    VALUES (charge_point_id, payload->>'type',
            coalesce((SELECT t.critical FROM pgcsms.security_event_types AS t WHERE t.type = payload->>'type'), false),
            payload->>'techInfo', ocpp._ts(payload->>'timestamp'));
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.on_security_event_notification(text, text, jsonb) IS
    'SecurityEventNotification: stored, flagged critical per the Security Whitepaper list.';

CREATE OR REPLACE FUNCTION ocpp.on_sign_certificate(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO pgcsms.certificate_signing_requests (charge_point_id, csr) VALUES (charge_point_id, payload->>'csr');
    RETURN jsonb_build_object('status', 'Accepted');
END
$$;
COMMENT ON FUNCTION ocpp.on_sign_certificate(text, text, jsonb) IS
    'SignCertificate: keeps the CSR for an operator to sign (ocpp.certificate_signing_requests) and answers Accepted.';
