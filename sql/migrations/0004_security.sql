-- Security: charger authentication (OCPP 1.6 Security Whitepaper, edition 2,
-- security profiles 0-3) and least-privilege grants. The functions that use
-- these columns are in sql/functions/authentication.sql.

-- Functions are private until a grant says otherwise. 0001 tried this per
-- schema, which does nothing: per-schema default privileges can only add to
-- the global ones, and PUBLIC's EXECUTE on functions is global (see ALTER
-- DEFAULT PRIVILEGES). So revoke it globally for the role that runs the
-- migrations (this database only): every function it creates from now on,
-- including the function files applied right after the migrations, starts
-- with no EXECUTE for PUBLIC. Then take it back from the functions that
-- exist already (a database migrated before this file).
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON ROUTINES FROM PUBLIC;
REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA ocpp FROM PUBLIC;
REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA pgcsms FROM PUBLIC;

-- The proxy calls only what its code names (README "Database roles");
-- ocpp.call_error_code is for readers mapping SQLSTATEs, the proxy gets its
-- codes from ocpp.parse.
DO $$
BEGIN
    IF to_regprocedure('ocpp.call_error_code(text, text)') IS NOT NULL THEN
        REVOKE EXECUTE ON FUNCTION ocpp.call_error_code(text, text) FROM pgcsms_proxy;
    END IF;
END
$$;

-- No object of anyone but its owner in the public schema (the default since
-- PostgreSQL 15; CVE-2018-1058 on older servers). yoyo's bookkeeping there
-- belongs to the migrating role.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- bcrypt for charger passwords. In pgcsms, which only the owner can reach,
-- so its functions are no API of ours.
DO $$
DECLARE
    installed_in name;
BEGIN
    SELECT n.nspname INTO installed_in
      FROM pg_catalog.pg_extension AS e JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
     WHERE e.extname = 'pgcrypto';
    IF installed_in IS NOT NULL AND installed_in <> 'pgcsms' THEN
        RAISE EXCEPTION 'pgcrypto is installed in schema %, pgcsms needs it in schema pgcsms', installed_in
            USING HINT = 'ALTER EXTENSION pgcrypto SET SCHEMA pgcsms (if nothing else uses it where it is), then migrate again';
    END IF;
END
$$;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA pgcsms;
REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA pgcsms FROM PUBLIC;

-- Security profile per charge point: 0 none (plain ws, no authentication),
-- 1 HTTP Basic auth, 2 TLS + HTTP Basic auth, 3 TLS with a client
-- certificate (mTLS). Profiles 1 and 2 need a password; a password without
-- authentication (profile 0) cannot happen. password_hash is bcrypt
-- (pgcrypto crypt) and is in no view.
ALTER TABLE pgcsms.charge_points
    ADD COLUMN password_hash text,
    ADD COLUMN security_profile smallint NOT NULL DEFAULT 0,
    ADD CONSTRAINT charge_points_security_profile_check CHECK (security_profile BETWEEN 0 AND 3),
    ADD CONSTRAINT charge_points_basic_auth_has_password
        CHECK (security_profile NOT IN (1, 2) OR password_hash IS NOT NULL),
    ADD CONSTRAINT charge_points_password_needs_profile
        CHECK (password_hash IS NULL OR security_profile > 0);

-- Refused handshakes. Never the password nor the Authorization header.
CREATE TABLE pgcsms.auth_failures (
    charge_point_id  text NOT NULL,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    transport        text,
    remote_address   text,
    client_cn        text,
    http_status      integer NOT NULL,
    reason           text NOT NULL,
    at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (charge_point_id, id)
);
CREATE INDEX ON pgcsms.auth_failures USING brin (at);

-- The columns of 0002, then the new ones at the end.
CREATE OR REPLACE VIEW ocpp.charge_points AS
    SELECT id, registration_status, description, vendor, model, serial_number, charge_box_serial_number,
           firmware_version, iccid, imsi, meter_type, meter_serial_number, ocpp_version, connected,
           node_id, remote_address, connected_at, disconnected_at, last_seen_at, last_boot_at,
           clock_skew, firmware_status, firmware_status_at, diagnostics_status, diagnostics_status_at,
           ping_interval, created_at, updated_at,
           security_profile, password_hash IS NOT NULL AS has_password
      FROM pgcsms.charge_points;
COMMENT ON VIEW ocpp.charge_points IS
    'Charge points: identity, what BootNotification said, registration status (Accepted | Pending | Rejected), connection state. last_seen_at is refreshed at most every few seconds. clock_skew is set while the charger clock is flagged as far off. security_profile: 0 none, 1 HTTP Basic auth, 2 TLS + Basic auth, 3 TLS client certificate (ocpp.set_security_profile); has_password: a password is set (ocpp.set_password; the hash itself is in no view).';

CREATE VIEW ocpp.auth_failures AS
    SELECT charge_point_id, id, transport, remote_address, client_cn, http_status, reason, at
      FROM pgcsms.auth_failures;
COMMENT ON VIEW ocpp.auth_failures IS
    'WebSocket handshakes refused by ocpp.authenticate: identity as sent, transport ws | wss, source address, client certificate CN, HTTP status answered (401 wrong or missing password, 403 transport or certificate not allowed by the security profile, 404 unknown charge point) and the reason (for people, never sent to the charger). Passwords are never recorded. Readable by pgcsms_operator.';

-- The journal keeps every frame, SignCertificate's CSR too; a reader (BI
-- tool) sees the frame without it. current_user inside a view is whoever
-- queries it, so the superuser and operators see the CSR.
CREATE OR REPLACE VIEW ocpp.message_log AS
    SELECT charge_point_id, id, direction, message_type, unique_id, action,
           CASE WHEN action = 'SignCertificate' AND payload ? 'csr'
                     AND NOT pg_catalog.pg_has_role('pgcsms_operator', 'USAGE')
                THEN payload || '{"csr": "(readable by pgcsms_operator only)"}'
                ELSE payload END AS payload,
           raw, error_code, error_description, error_detail, node_id, at
      FROM pgcsms.message_log;
COMMENT ON VIEW ocpp.message_log IS
    'The journal: every OCPP-J frame in and out. direction in | out; message_type 2 CALL, 3 CALLRESULT, 4 CALLERROR, NULL when the frame could not be read (raw holds it). error_detail is the internal cause of an InternalError (or of a value refused as out of range), never sent to the charger. The csr of SignCertificate payloads is shown to pgcsms_operator only.';

-- pgcsms_operator reads every view (the reader's through membership, and
-- these too: CSRs and refused handshakes are for operators, not BI tools).
GRANT SELECT ON ALL TABLES IN SCHEMA ocpp TO pgcsms_operator;
