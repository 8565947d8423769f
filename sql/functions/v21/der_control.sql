-- OCPP 2.1 DER control (R): the grid functions of a station (and its EVs)
-- acting as a distributed energy resource. The station reports alarms
-- (NotifyDERAlarm), the start and stop of controls (NotifyDERStartStop) and,
-- asked by GetDERControl, the controls it holds (ReportDERControl, page by
-- page); we set and clear controls (SetDERControl, ClearDERControl). What the
-- station holds as far as we know is pgcsms.der_controls.

-- Where each control type's settings travel: SetDERControlRequest names the
-- field, ReportDERControlRequest lists them in an array of that name whose
-- elements carry them under "inner". Every type not listed is a curve.
CREATE OR REPLACE FUNCTION ocpp._der_control_field(control_type text, OUT field text, OUT inner_field text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(f.field, 'curve'), coalesce(f.inner_field, 'curve')
      FROM (SELECT 1) AS one
      LEFT JOIN (VALUES ('EnterService', 'enterService', 'enterService'),
                        ('FixedPFAbsorb', 'fixedPFAbsorb', 'fixedPF'),
                        ('FixedPFInject', 'fixedPFInject', 'fixedPF'),
                        ('FixedVar', 'fixedVar', 'fixedVar'),
                        ('FreqDroop', 'freqDroop', 'freqDroop'),
                        ('Gradients', 'gradient', 'gradient'),
                        ('LimitMaxDischarge', 'limitMaxDischarge', 'limitMaxDischarge'))
             AS f (control_type, field, inner_field) ON f.control_type = _der_control_field.control_type
$$;
COMMENT ON FUNCTION ocpp._der_control_field(text) IS
    'For an OCPP 2.1 DERControlEnumType: the SetDERControlRequest field (and ReportDERControlRequest array) holding its settings, and the key of the settings inside that array''s elements: curve/curve for the curve types, enterService, fixedPFAbsorb/fixedPF, fixedPFInject/fixedPF, fixedVar, freqDroop, gradient (Gradients), limitMaxDischarge.';

CREATE OR REPLACE FUNCTION ocpp.v21_notify_der_alarm(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO pgcsms.der_alarms
        (charge_point_id, control_type, grid_event_fault, alarm_ended, charger_at, extra_info, unique_id)
    VALUES (charge_point_id, payload->>'controlType', payload->>'gridEventFault',
            coalesce((payload->>'alarmEnded')::boolean, false), ocpp._ts(payload->>'timestamp'),
            payload->>'extraInfo', unique_id);
    PERFORM pg_notify('ocpp_event', jsonb_strip_nulls(jsonb_build_object(
        'event', 'der_alarm', 'charge_point_id', charge_point_id, 'control_type', payload->>'controlType',
        'grid_event_fault', payload->>'gridEventFault',
        'alarm_ended', coalesce((payload->>'alarmEnded')::boolean, false)))::text);
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v21_notify_der_alarm(text, text, jsonb) IS
    'NotifyDERAlarm (2.1, R05): the alarm into ocpp.der_alarms (control type, grid event fault, ended or not, the station''s time) and NOTIFY ocpp_event {"event":"der_alarm",...}. Answers {}.';

CREATE OR REPLACE FUNCTION ocpp.v21_notify_der_start_stop(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    superseded text[] := ARRAY(SELECT jsonb_array_elements_text(ocpp._array(payload->'supersededIds')));
BEGIN
    INSERT INTO pgcsms.der_start_stops (charge_point_id, control_id, started, charger_at, superseded_ids, unique_id)
    VALUES (charge_point_id, payload->>'controlId', (payload->>'started')::boolean, ocpp._ts(payload->>'timestamp'),
            superseded, unique_id);
    UPDATE pgcsms.der_controls AS d SET active = (payload->>'started')::boolean, updated_at = now()
     WHERE d.charge_point_id = v21_notify_der_start_stop.charge_point_id AND d.control_id = payload->>'controlId';
    UPDATE pgcsms.der_controls AS d SET is_superseded = true, active = false, updated_at = now()
     WHERE d.charge_point_id = v21_notify_der_start_stop.charge_point_id AND d.control_id = ANY (superseded);
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v21_notify_der_start_stop(text, text, jsonb) IS
    'NotifyDERStartStop (2.1): kept in ocpp.der_start_stops; the control''s active flag in ocpp.der_controls follows it, and the controls it superseded are marked so (and inactive). Answers {}.';

CREATE OR REPLACE FUNCTION ocpp.v21_report_der_control(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    request integer := (payload->>'requestId')::integer;
    command pgcsms.commands;
    reported integer;
BEGIN
    SELECT * INTO command FROM pgcsms.commands AS c
     WHERE c.id = ocpp._command_of_request(v21_report_der_control.charge_point_id, 'GetDERControl', request);
    WITH controls AS (
        SELECT x.c->>'id' AS control_id, coalesce(x.c->>'curveType', t.control_type) AS control_type,
               coalesce((x.c->>'isDefault')::boolean, false) AS is_default,
               coalesce((x.c->>'isSuperseded')::boolean, false) AS is_superseded, x.c->t.inner_field AS control
          FROM (VALUES ('curve', 'curve', NULL), ('enterService', 'enterService', 'EnterService'),
                       ('fixedPFAbsorb', 'fixedPF', 'FixedPFAbsorb'), ('fixedPFInject', 'fixedPF', 'FixedPFInject'),
                       ('fixedVar', 'fixedVar', 'FixedVar'), ('freqDroop', 'freqDroop', 'FreqDroop'),
                       ('gradient', 'gradient', 'Gradients'), ('limitMaxDischarge', 'limitMaxDischarge', 'LimitMaxDischarge'))
               AS t (field, inner_field, control_type)
         CROSS JOIN LATERAL jsonb_array_elements(ocpp._array(payload->t.field)) AS x(c)),
    upserted AS (
        INSERT INTO pgcsms.der_controls AS d
            (charge_point_id, control_id, control_type, is_default, is_superseded, control, source, command_id,
             request_id)
        SELECT DISTINCT ON (k.control_id) v21_report_der_control.charge_point_id, k.control_id, k.control_type,
               k.is_default, k.is_superseded, k.control, 'report', command.id, request
          FROM controls AS k
         ORDER BY k.control_id
        ON CONFLICT ON CONSTRAINT der_controls_pkey DO UPDATE
           SET control_type = excluded.control_type, is_default = excluded.is_default,
               is_superseded = excluded.is_superseded, control = excluded.control, source = 'report',
               command_id = excluded.command_id, request_id = excluded.request_id, updated_at = now()
        RETURNING 1)
    SELECT count(*) INTO reported FROM upserted;
    INSERT INTO pgcsms.der_control_reports (charge_point_id, request_id, command_id, tbc, items, unique_id)
    VALUES (charge_point_id, request, command.id, coalesce((payload->>'tbc')::boolean, false), reported, unique_id);
    -- The last page of a report of every control (GetDERControl without a
    -- filter): what it never listed, the station does not hold, unless a
    -- command queued after the GetDERControl set it.
    IF NOT coalesce((payload->>'tbc')::boolean, false) AND command.id IS NOT NULL
       AND NOT command.payload ?| ARRAY['isDefault', 'controlType', 'controlId'] THEN
        DELETE FROM pgcsms.der_controls AS d
         WHERE d.charge_point_id = v21_report_der_control.charge_point_id
           AND d.request_id IS DISTINCT FROM request AND (d.command_id IS NULL OR d.command_id < command.id);
    END IF;
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v21_report_der_control(text, text, jsonb) IS
    'ReportDERControl (2.1): one page of the controls a station holds (curves, enterService, fixedPF, fixedVar, freqDroop, gradient, limitMaxDischarge) into ocpp.der_controls (source report), linked to the GetDERControl of its requestId, the page in ocpp.der_control_reports. The last page (tbc false) of a report asked without a filter removes the controls it did not list. Answers {}.';

CREATE OR REPLACE FUNCTION ocpp.set_der_control(
    charge_point_id text, control_id text, control_type text, control jsonb, is_default boolean DEFAULT false,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF jsonb_typeof(control) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'control is the JSON object of the control''s settings, not %', coalesce(control::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'e.g. for FixedPFInject: ''{"priority": 1, "displacement": 0.95, "excitation": true}''';
    END IF;
    RETURN ocpp.send(charge_point_id, 'SetDERControl', jsonb_build_object(
        'isDefault', coalesce(is_default, false), 'controlId', control_id, 'controlType', control_type,
        (ocpp._der_control_field(control_type)).field, control), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.set_der_control(text, text, text, jsonb, boolean, timestamptz) IS
    'Queues SetDERControl (OCPP 2.1, R04): control_id (ours, at most 36 characters), control_type (a DERControlEnumType: FreqDroop, VoltVar, HVMustTrip, ...) and control, its settings (DERCurveType for the curve types, else EnterServiceType, FixedPFType, FixedVarType, FreqDroopType, GradientType or LimitMaxDischargeType), placed in the field of its type; is_default: a default control. Accepted: kept in ocpp.der_controls (source set), and the controls the station says it superseded are marked so. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.set_der_control(text, text, text, jsonb, boolean, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_der_control(text, text, text, jsonb, boolean, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_der_control(
    charge_point_id text, request_id integer DEFAULT NULL, is_default boolean DEFAULT NULL,
    control_type text DEFAULT NULL, control_id text DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetDERControl', jsonb_strip_nulls(jsonb_build_object(
        'requestId', coalesce(request_id, ocpp._new_request_id()), 'isDefault', is_default,
        'controlType', control_type, 'controlId', control_id)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_der_control(text, integer, boolean, text, text, timestamptz) IS
    'Queues GetDERControl (OCPP 2.1): the controls the station holds, all of them or those matching is_default, control_type or control_id; request_id: a new one unless given. The station answers Accepted (or NotFound, NotSupported, Rejected), then reports them with ReportDERControl into ocpp.der_controls (a report of all replaces what we knew). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_der_control(text, integer, boolean, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_der_control(text, integer, boolean, text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.clear_der_control(
    charge_point_id text, is_default boolean, control_type text DEFAULT NULL, control_id text DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'ClearDERControl', jsonb_strip_nulls(jsonb_build_object(
        'isDefault', is_default, 'controlType', control_type, 'controlId', control_id)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.clear_der_control(text, boolean, text, text, timestamptz) IS
    'Queues ClearDERControl (OCPP 2.1): the control control_id, or the default (is_default true) or scheduled (false) controls, of control_type or of every type. Accepted removes them from ocpp.der_controls. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.clear_der_control(text, boolean, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.clear_der_control(text, boolean, text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp._v21_effect_der_control(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    IF c.action = 'SetDERControl' THEN
        INSERT INTO pgcsms.der_controls AS d
            (charge_point_id, control_id, control_type, is_default, control, source, command_id)
        VALUES (c.charge_point_id, c.payload->>'controlId', c.payload->>'controlType',
                (c.payload->>'isDefault')::boolean,
                coalesce(c.payload->(ocpp._der_control_field(c.payload->>'controlType')).field, '{}'), 'set', c.id)
        ON CONFLICT (charge_point_id, control_id) DO UPDATE
           SET control_type = excluded.control_type, is_default = excluded.is_default, is_superseded = false,
               control = excluded.control, source = 'set', active = NULL, command_id = excluded.command_id,
               request_id = NULL, updated_at = now();
        UPDATE pgcsms.der_controls AS d SET is_superseded = true, updated_at = now()
         WHERE d.charge_point_id = c.charge_point_id
           AND d.control_id IN (SELECT jsonb_array_elements_text(ocpp._array(c.response->'supersededIds')));
    ELSIF c.action = 'ClearDERControl' THEN
        DELETE FROM pgcsms.der_controls AS d
         WHERE d.charge_point_id = c.charge_point_id
           AND CASE WHEN c.payload ? 'controlId' THEN d.control_id = c.payload->>'controlId'
                    ELSE d.is_default = (c.payload->>'isDefault')::boolean
                         AND (NOT c.payload ? 'controlType' OR d.control_type = c.payload->>'controlType') END;
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._v21_effect_der_control(pgcsms.commands) IS
    'SetDERControl answered Accepted: the control in ocpp.der_controls (source set) and its supersededIds marked superseded; ClearDERControl Accepted: removes the control it named, or the default or scheduled controls (of its controlType). Other answers change nothing.';
