-- Typed errors. A handler refuses a message with
--     RAISE EXCEPTION '...' USING ERRCODE = 'OC005';
-- and the charger receives the matching OCPP-J CALLERROR. The class OC is ours:
--   OC001 NotImplemented               OC006 FormationViolation (2.0.1: FormatViolation)
--   OC002 NotSupported                 OC007 PropertyConstraintViolation
--   OC003 InternalError                OC008 OccurenceConstraintViolation (2.0.1: OccurrenceConstraintViolation)
--   OC004 ProtocolError                OC009 TypeConstraintViolation
--   OC005 SecurityError                OC010 GenericError
-- Any other SQLSTATE is a fault of ours: InternalError, detail kept in the journal only.
CREATE OR REPLACE FUNCTION ocpp.call_error_code(sqlstate text, ocpp_version text DEFAULT '1.6')
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE sqlstate
        WHEN 'OC001' THEN 'NotImplemented'
        WHEN 'OC002' THEN 'NotSupported'
        WHEN 'OC003' THEN 'InternalError'
        WHEN 'OC004' THEN 'ProtocolError'
        WHEN 'OC005' THEN 'SecurityError'
        WHEN 'OC006' THEN CASE WHEN ocpp_version = '1.6' THEN 'FormationViolation' ELSE 'FormatViolation' END
        WHEN 'OC007' THEN 'PropertyConstraintViolation'
        WHEN 'OC008' THEN CASE WHEN ocpp_version = '1.6' THEN 'OccurenceConstraintViolation'
                               ELSE 'OccurrenceConstraintViolation' END
        WHEN 'OC009' THEN 'TypeConstraintViolation'
        WHEN 'OC010' THEN 'GenericError'
        ELSE 'InternalError'
    END
$$;
COMMENT ON FUNCTION ocpp.call_error_code(text, text) IS
    'The OCPP-J CALLERROR code for a SQLSTATE raised by a handler (class OC, see sql/functions/call_errors.sql), spelled for the OCPP version; anything else is InternalError.';
REVOKE ALL ON FUNCTION ocpp.call_error_code(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.call_error_code(text, text) TO pgcsms_reader;
