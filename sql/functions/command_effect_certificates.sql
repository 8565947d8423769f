-- Security extension: InstallCertificate, CertificateSigned,
-- GetInstalledCertificateIds, DeleteCertificate → ocpp.installed_certificates.
-- We cannot compute a PEM's hash data in SQL, so rows we installed keep the
-- PEM, rows the charger reported keep the hash data.
CREATE OR REPLACE FUNCTION ocpp._effect_certificates(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    hash jsonb;
BEGIN
    CASE c.action
    WHEN 'InstallCertificate' THEN
        IF c.status = 'accepted' THEN
            DELETE FROM pgcsms.installed_certificates AS ic
             WHERE ic.charge_point_id = c.charge_point_id AND ic.source = 'installed'
               AND ic.certificate_type = c.payload->>'certificateType' AND ic.certificate = c.payload->>'certificate';
            INSERT INTO pgcsms.installed_certificates (charge_point_id, certificate_type, source, certificate, command_id)
            VALUES (c.charge_point_id, c.payload->>'certificateType', 'installed', c.payload->>'certificate', c.id);
        END IF;
    WHEN 'CertificateSigned' THEN
        IF c.status = 'accepted' THEN
            -- The charger now uses the new certificate instead of the old.
            DELETE FROM pgcsms.installed_certificates AS ic
             WHERE ic.charge_point_id = c.charge_point_id AND ic.source = 'signed';
            INSERT INTO pgcsms.installed_certificates (charge_point_id, certificate_type, source, certificate, command_id)
            VALUES (c.charge_point_id, 'ChargePointCertificate', 'signed', c.payload->>'certificateChain', c.id);
            UPDATE pgcsms.certificate_signing_requests AS r SET status = 'Signed'
             WHERE r.charge_point_id = c.charge_point_id
               AND r.id = (SELECT max(q.id) FROM pgcsms.certificate_signing_requests AS q
                            WHERE q.charge_point_id = c.charge_point_id AND q.status = 'Received');
        END IF;
    WHEN 'GetInstalledCertificateIds' THEN
        IF c.status IN ('accepted', 'rejected') THEN
            -- The answer is the full list of that type; NotFound: there is none.
            DELETE FROM pgcsms.installed_certificates AS ic
             WHERE ic.charge_point_id = c.charge_point_id AND ic.certificate_type = c.payload->>'certificateType'
               AND (ic.source = 'reported' OR c.response->>'status' = 'NotFound');
            IF c.response->>'status' = 'Accepted' THEN
                INSERT INTO pgcsms.installed_certificates
                    (charge_point_id, certificate_type, source, hash_algorithm, issuer_name_hash, issuer_key_hash,
                     serial_number, command_id)
                SELECT c.charge_point_id, c.payload->>'certificateType', 'reported', h->>'hashAlgorithm',
                       h->>'issuerNameHash', h->>'issuerKeyHash', h->>'serialNumber', c.id
                  FROM jsonb_array_elements(ocpp._array(c.response->'certificateHashData')) AS h;
            END IF;
        END IF;
    WHEN 'DeleteCertificate' THEN
        IF c.status = 'accepted' THEN
            hash := c.payload->'certificateHashData';
            DELETE FROM pgcsms.installed_certificates AS ic
             WHERE ic.charge_point_id = c.charge_point_id
               AND ic.hash_algorithm = hash->>'hashAlgorithm'
               AND upper(ic.issuer_name_hash) = upper(hash->>'issuerNameHash')
               AND upper(ic.issuer_key_hash) = upper(hash->>'issuerKeyHash')
               AND upper(ic.serial_number) = upper(hash->>'serialNumber');
        END IF;
    END CASE;
END
$$;
COMMENT ON FUNCTION ocpp._effect_certificates(pgcsms.commands) IS
    'Certificate commands answered: InstallCertificate Accepted adds the PEM; CertificateSigned Accepted replaces the charge point certificate and marks the newest received CSR Signed; GetInstalledCertificateIds replaces the reported rows of its type (NotFound: removes every row of the type); DeleteCertificate Accepted removes the rows with its hash data.';
