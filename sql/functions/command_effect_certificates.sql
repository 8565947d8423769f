-- Certificates on a charger (ocpp.installed_certificates): InstallCertificate,
-- CertificateSigned, GetInstalledCertificateIds, DeleteCertificate, in the
-- OCPP 1.6 Security Whitepaper and in 2.0.1 (sql/functions/v201/certificates.sql).
-- The rules are the same in both; the effects below read the 1.6 fields.
-- We cannot compute a PEM's hash data in SQL, so rows we installed keep the
-- PEM, rows the charger reported keep the hash data.

CREATE OR REPLACE FUNCTION ocpp._certificate_installed(
    charge_point_id text, certificate_type text, certificate text, command_id bigint)
RETURNS void
LANGUAGE sql
AS $$
    DELETE FROM pgcsms.installed_certificates AS ic
     WHERE ic.charge_point_id = _certificate_installed.charge_point_id AND ic.source = 'installed'
       AND ic.certificate_type = _certificate_installed.certificate_type
       AND ic.certificate = _certificate_installed.certificate;
    INSERT INTO pgcsms.installed_certificates (charge_point_id, certificate_type, source, certificate, command_id)
    VALUES (charge_point_id, certificate_type, 'installed', certificate, command_id);
$$;
COMMENT ON FUNCTION ocpp._certificate_installed(text, text, text, bigint) IS
    'InstallCertificate accepted: the PEM kept as an installed certificate of its type (once).';

CREATE OR REPLACE FUNCTION ocpp._certificate_signed(
    charge_point_id text, certificate_type text, certificate_chain text, command_id bigint)
RETURNS void
LANGUAGE sql
AS $$
    -- The charger now uses the new certificate instead of the old of its type.
    DELETE FROM pgcsms.installed_certificates AS ic
     WHERE ic.charge_point_id = _certificate_signed.charge_point_id AND ic.source = 'signed'
       AND ic.certificate_type = _certificate_signed.certificate_type;
    INSERT INTO pgcsms.installed_certificates (charge_point_id, certificate_type, source, certificate, command_id)
    VALUES (charge_point_id, certificate_type, 'signed', certificate_chain, command_id);
    -- The request it answers: the newest received of its type (a CSR of no
    -- type is for every use).
    UPDATE pgcsms.certificate_signing_requests AS r SET status = 'Signed'
     WHERE r.charge_point_id = _certificate_signed.charge_point_id
       AND r.id = (SELECT max(q.id) FROM pgcsms.certificate_signing_requests AS q
                    WHERE q.charge_point_id = _certificate_signed.charge_point_id AND q.status = 'Received'
                      AND (q.certificate_type IS NULL OR q.certificate_type = _certificate_signed.certificate_type));
$$;
COMMENT ON FUNCTION ocpp._certificate_signed(text, text, text, bigint) IS
    'CertificateSigned accepted: the chain replaces the signed certificate of its type, and the newest received CSR of that type (or of none) is marked Signed.';

CREATE OR REPLACE FUNCTION ocpp._certificates_reported(
    charge_point_id text, command_id bigint, certificate_types text[], status text, chains jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    chain jsonb;
    leaf bigint;
BEGIN
    -- The answer is the full list of the types asked for (NULL: every type a
    -- charger reports, which is not its own signed certificate); NotFound:
    -- there is none of them, not even one we installed.
    DELETE FROM pgcsms.installed_certificates AS ic
     WHERE ic.charge_point_id = _certificates_reported.charge_point_id
       AND CASE WHEN certificate_types IS NULL THEN ic.source <> 'signed'
                ELSE ic.certificate_type = ANY (certificate_types) END
       AND (ic.source = 'reported' OR status = 'NotFound');
    IF status <> 'Accepted' THEN
        RETURN;
    END IF;
    -- Each chain: the certificate, and (2.0.1, a V2G chain) its sub-CAs under it.
    FOR chain IN SELECT e FROM jsonb_array_elements(ocpp._array(chains)) AS e LOOP
        INSERT INTO pgcsms.installed_certificates
            (charge_point_id, certificate_type, source, hash_algorithm, issuer_name_hash, issuer_key_hash,
             serial_number, command_id)
        VALUES (charge_point_id, chain->>'certificateType', 'reported', chain#>>'{certificateHashData,hashAlgorithm}',
                chain#>>'{certificateHashData,issuerNameHash}', chain#>>'{certificateHashData,issuerKeyHash}',
                chain#>>'{certificateHashData,serialNumber}', command_id)
        RETURNING id INTO leaf;
        INSERT INTO pgcsms.installed_certificates
            (charge_point_id, certificate_type, source, hash_algorithm, issuer_name_hash, issuer_key_hash,
             serial_number, command_id, parent_id)
        SELECT charge_point_id, chain->>'certificateType', 'reported', h->>'hashAlgorithm', h->>'issuerNameHash',
               h->>'issuerKeyHash', h->>'serialNumber', command_id, leaf
          FROM jsonb_array_elements(ocpp._array(chain->'childCertificateHashData')) AS h;
    END LOOP;
END
$$;
COMMENT ON FUNCTION ocpp._certificates_reported(text, bigint, text[], text, jsonb) IS
    'GetInstalledCertificateIds answered (status Accepted or NotFound): replaces the reported certificates of the types asked for (NULL: every type but the charger''s own signed ones) with the chains given ([{certificateType, certificateHashData, childCertificateHashData}], children under their leaf); NotFound removes every row of those types.';

CREATE OR REPLACE FUNCTION ocpp._certificate_deleted(charge_point_id text, hash jsonb)
RETURNS void
LANGUAGE sql
AS $$
    -- Hash data is hex: the charger may spell it in either case.
    DELETE FROM pgcsms.installed_certificates AS ic
     WHERE ic.charge_point_id = _certificate_deleted.charge_point_id
       AND ic.hash_algorithm = hash->>'hashAlgorithm'
       AND upper(ic.issuer_name_hash) = upper(hash->>'issuerNameHash')
       AND upper(ic.issuer_key_hash) = upper(hash->>'issuerKeyHash')
       AND upper(ic.serial_number) = upper(hash->>'serialNumber');
$$;
COMMENT ON FUNCTION ocpp._certificate_deleted(text, jsonb) IS
    'DeleteCertificate accepted: removes the rows with its certificateHashData.';

CREATE OR REPLACE FUNCTION ocpp._effect_certificates(c pgcsms.commands)
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
        IF c.status = 'accepted' THEN
            PERFORM ocpp._certificate_signed(c.charge_point_id, 'ChargePointCertificate',
                                             c.payload->>'certificateChain', c.id);
        END IF;
    WHEN 'GetInstalledCertificateIds' THEN
        IF c.status IN ('accepted', 'rejected') THEN
            PERFORM ocpp._certificates_reported(
                c.charge_point_id, c.id, ARRAY[c.payload->>'certificateType'], c.response->>'status',
                (SELECT jsonb_agg(jsonb_build_object('certificateType', c.payload->>'certificateType',
                                                     'certificateHashData', h))
                   FROM jsonb_array_elements(ocpp._array(c.response->'certificateHashData')) AS h));
        END IF;
    WHEN 'DeleteCertificate' THEN
        IF c.status = 'accepted' THEN
            PERFORM ocpp._certificate_deleted(c.charge_point_id, c.payload->'certificateHashData');
        END IF;
    END CASE;
END
$$;
COMMENT ON FUNCTION ocpp._effect_certificates(pgcsms.commands) IS
    'OCPP 1.6 certificate commands answered: InstallCertificate Accepted adds the PEM; CertificateSigned Accepted replaces the charge point certificate and marks the newest received CSR Signed; GetInstalledCertificateIds replaces the reported rows of its type (NotFound: removes every row of the type); DeleteCertificate Accepted removes the rows with its hash data.';
