-- OCPP 2.0.1 commands of provisioning, the device model and monitoring, one
-- helper each with named arguments (Reset, ChangeAvailability and
-- TriggerMessage serve both versions: sql/functions/command_helpers.sql).
-- Each builds the payload (optional fields left out when NULL), queues it
-- with ocpp.send and returns the command id; those whose lists the station
-- limits (ItemsPerMessage in its device model) return one id per command.
--
-- Variables are named 'Component[.instance]/Variable[.instance]', split at
-- the first '/' and each part at its first '.'; evse_id and connector_id
-- apply to every one. Any OCPP list may be given as is instead (the *_data
-- arguments), for components of several EVSEs in one call.
--   SELECT ocpp.get_variables('CS-1', ARRAY['OCPPCommCtrlr/OfflineThreshold', 'DeviceDataCtrlr/ItemsPerMessage.GetVariables']);
--   SELECT ocpp.set_variables('CS-1', '{"OCPPCommCtrlr/OfflineThreshold": 123, "AuthCtrlr/AuthorizeRemoteStart": false}');
--   SELECT ocpp.get_variables('CS-1', ARRAY['Connector/AvailabilityState'], evse_id => 1, connector_id => 2);

-- A component and variable named the short way, as OCPP 2.0.1 JSON.
CREATE OR REPLACE FUNCTION ocpp._component_variable(
    reference text, evse_id integer DEFAULT NULL, connector_id integer DEFAULT NULL,
    whole_component boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    component_part text := split_part(reference, '/', 1);
    variable_part text := nullif(substr(reference, length(split_part(reference, '/', 1)) + 2), '');
BEGIN
    IF reference IS NULL OR component_part IN ('', '.') OR left(component_part, 1) = '.'
       OR left(variable_part, 1) = '.' OR variable_part LIKE '%/%'
       OR (variable_part IS NULL AND NOT whole_component) THEN
        RAISE EXCEPTION '% does not name a %', quote_nullable(reference),
                        CASE WHEN whole_component THEN 'component or variable' ELSE 'variable' END
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Component[.instance]/Variable[.instance], e.g. OCPPCommCtrlr/OfflineThreshold or DeviceDataCtrlr/ItemsPerMessage.GetVariables'
                         || CASE WHEN whole_component THEN '; a whole component: Component[.instance]' ELSE '' END;
    END IF;
    IF connector_id IS NOT NULL AND evse_id IS NULL THEN
        RAISE EXCEPTION 'connector % of which EVSE?', connector_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'give evse_id too (connector ids count per EVSE)';
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'component', jsonb_build_object(
            'name', split_part(component_part, '.', 1),
            'instance', CASE WHEN strpos(component_part, '.') > 0
                             THEN nullif(substr(component_part, strpos(component_part, '.') + 1), '') END,
            'evse', CASE WHEN evse_id IS NOT NULL THEN jsonb_build_object('id', evse_id, 'connectorId', connector_id) END),
        'variable', CASE WHEN variable_part IS NOT NULL THEN jsonb_build_object(
            'name', split_part(variable_part, '.', 1),
            'instance', CASE WHEN strpos(variable_part, '.') > 0
                             THEN nullif(substr(variable_part, strpos(variable_part, '.') + 1), '') END) END));
END
$$;
COMMENT ON FUNCTION ocpp._component_variable(text, integer, integer, boolean) IS
    'OCPP 2.0.1 {component, variable} JSON from ''Component[.instance]/Variable[.instance]'' (whole_component: the variable may be left out), with evse_id and connector_id on the component; invalid_parameter_value otherwise.';

-- A list of items, as few commands as the station's limit allows, in order.
CREATE OR REPLACE FUNCTION ocpp._send_in_batches(
    charge_point_id text, action text, list text, items jsonb, per_message integer, expires_at timestamptz)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$
DECLARE
    batch jsonb;
BEGIN
    IF jsonb_typeof(items) IS DISTINCT FROM 'array' OR jsonb_array_length(items) = 0 THEN
        RAISE EXCEPTION '% needs a non-empty list %, not %', action, list, coalesce(items::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR batch IN
        SELECT jsonb_agg(x.e ORDER BY x.n)
          FROM jsonb_array_elements(items) WITH ORDINALITY AS x(e, n)
         GROUP BY (x.n - 1) / coalesce(per_message, 2147483647)
         ORDER BY (x.n - 1) / coalesce(per_message, 2147483647)
    LOOP
        RETURN NEXT ocpp.send(charge_point_id, action, jsonb_build_object(list, batch), expires_at);
    END LOOP;
END
$$;
COMMENT ON FUNCTION ocpp._send_in_batches(text, text, text, jsonb, integer, timestamptz) IS
    'Queues one command per per_message items of a list (all in one when per_message is NULL), in order; returns their ids.';

CREATE OR REPLACE FUNCTION ocpp.get_variables(
    charge_point_id text, variables text[] DEFAULT NULL, evse_id integer DEFAULT NULL,
    connector_id integer DEFAULT NULL, attribute_type text DEFAULT NULL, get_variable_data jsonb DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    items jsonb := get_variable_data;
BEGIN
    IF (variables IS NULL) = (get_variable_data IS NULL) THEN
        RAISE EXCEPTION 'give either variables (''Component/Variable'' names) or get_variable_data (GetVariableDataType list)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF variables IS NOT NULL THEN
        SELECT jsonb_agg(ocpp._component_variable(u.v, evse_id, connector_id)
                         || jsonb_strip_nulls(jsonb_build_object('attributeType', attribute_type)) ORDER BY u.n)
          INTO items FROM unnest(variables) WITH ORDINALITY AS u(v, n);
    END IF;
    RETURN QUERY SELECT ocpp._send_in_batches(
        charge_point_id, 'GetVariables', 'getVariableData', items,
        ocpp._items_per_message(charge_point_id, 'DeviceDataCtrlr', 'GetVariables'), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.get_variables(text, text[], integer, integer, text, jsonb, timestamptz) IS
    'Queues GetVariables (OCPP 2.0.1) for variables named ''Component[.instance]/Variable[.instance]'' (evse_id, connector_id and attribute_type Actual | Target | MinSet | MaxSet apply to all), or for get_variable_data, a GetVariableDataType list as is. More variables than the station''s DeviceDataCtrlr.ItemsPerMessage[GetVariables] (when its device model says) go in several commands. Accepted values fill ocpp.device_variables; every result is in ocpp.variable_results. Returns one command id per command.';
REVOKE ALL ON FUNCTION ocpp.get_variables(text, text[], integer, integer, text, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_variables(text, text[], integer, integer, text, jsonb, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.set_variables(
    charge_point_id text, variables jsonb DEFAULT NULL, evse_id integer DEFAULT NULL,
    connector_id integer DEFAULT NULL, attribute_type text DEFAULT NULL, set_variable_data jsonb DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    items jsonb := set_variable_data;
BEGIN
    IF (variables IS NULL) = (set_variable_data IS NULL) THEN
        RAISE EXCEPTION 'give either variables ({"Component/Variable": value, ...}) or set_variable_data (SetVariableDataType list)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF variables IS NOT NULL THEN
        IF jsonb_typeof(variables) <> 'object'
           OR EXISTS (SELECT FROM jsonb_each(variables) AS e WHERE jsonb_typeof(e.value) NOT IN ('string', 'number', 'boolean')) THEN
            RAISE EXCEPTION 'variables is an object of ''Component[.instance]/Variable[.instance]'' to a value (text, number or boolean), not %',
                            variables
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = '{"OCPPCommCtrlr/OfflineThreshold": 123, "AuthCtrlr/AuthorizeRemoteStart": false}';
        END IF;
        SELECT jsonb_agg(ocpp._component_variable(e.key, evse_id, connector_id)
                         || jsonb_strip_nulls(jsonb_build_object('attributeType', attribute_type,
                                                                 'attributeValue', e.value #>> '{}')) ORDER BY e.key)
          INTO items FROM jsonb_each(variables) AS e;
    END IF;
    RETURN QUERY SELECT ocpp._send_in_batches(
        charge_point_id, 'SetVariables', 'setVariableData', items,
        ocpp._items_per_message(charge_point_id, 'DeviceDataCtrlr', 'SetVariables'), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.set_variables(text, jsonb, integer, integer, text, jsonb, timestamptz) IS
    'Queues SetVariables (OCPP 2.0.1): variables is {"Component[.instance]/Variable[.instance]": value, ...} (values sent as text; evse_id, connector_id and attribute_type apply to all), or set_variable_data a SetVariableDataType list as is. More than the station''s DeviceDataCtrlr.ItemsPerMessage[SetVariables] (when known) go in several commands. Accepted and RebootRequired values land in ocpp.device_variables; every result is in ocpp.variable_results. SecurityCtrlr/BasicAuthPassword rotates the station''s password (16 characters to 72 bytes), never shown in clear: it becomes the password once the station accepts it. Returns one command id per command.';
REVOKE ALL ON FUNCTION ocpp.set_variables(text, jsonb, integer, integer, text, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_variables(text, jsonb, integer, integer, text, jsonb, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_base_report(
    charge_point_id text, report_base text DEFAULT 'FullInventory', request_id integer DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetBaseReport', jsonb_build_object(
        'requestId', coalesce(request_id, ocpp._new_request_id()), 'reportBase', report_base),
        expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_base_report(text, text, integer, timestamptz) IS
    'Queues GetBaseReport (OCPP 2.0.1): report_base FullInventory (default) | ConfigurationInventory | SummaryInventory, request_id a new one unless given. Its NotifyReport pages fill ocpp.device_variables; follow them in ocpp.report_requests. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_base_report(text, text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_base_report(text, text, integer, timestamptz) TO pgcsms_operator;

-- ComponentVariableType list: objects as is, strings the short way.
CREATE OR REPLACE FUNCTION ocpp._component_variables(items jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE WHEN jsonb_typeof(items) = 'array' THEN
        (SELECT jsonb_agg(CASE WHEN jsonb_typeof(x.e) = 'string' THEN ocpp._component_variable(x.e #>> '{}', whole_component => true)
                               ELSE x.e END ORDER BY x.n)
           FROM jsonb_array_elements(items) WITH ORDINALITY AS x(e, n))
        ELSE items END
$$;
COMMENT ON FUNCTION ocpp._component_variables(jsonb) IS
    'An OCPP 2.0.1 ComponentVariableType list whose elements may also be ''Component[.instance][/Variable[.instance]]'' strings.';

CREATE OR REPLACE FUNCTION ocpp.get_report(
    charge_point_id text, component_variables jsonb DEFAULT NULL, component_criteria text[] DEFAULT NULL,
    request_id integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetReport', jsonb_strip_nulls(jsonb_build_object(
        'requestId', coalesce(request_id, ocpp._new_request_id()),
        'componentVariable', ocpp._component_variables(component_variables),
        'componentCriteria', to_jsonb(component_criteria))), expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_report(text, jsonb, text[], integer, timestamptz) IS
    'Queues GetReport (OCPP 2.0.1): component_variables a ComponentVariableType list (elements may be ''Component[.instance][/Variable[.instance]]'' strings), component_criteria Active | Available | Enabled | Problem, request_id a new one unless given. Its NotifyReport pages fill ocpp.device_variables; follow them in ocpp.report_requests. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_report(text, jsonb, text[], integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_report(text, jsonb, text[], integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.get_monitoring_report(
    charge_point_id text, component_variables jsonb DEFAULT NULL, monitoring_criteria text[] DEFAULT NULL,
    request_id integer DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'GetMonitoringReport', jsonb_strip_nulls(jsonb_build_object(
        'requestId', coalesce(request_id, ocpp._new_request_id()),
        'componentVariable', ocpp._component_variables(component_variables),
        'monitoringCriteria', to_jsonb(monitoring_criteria))), expires_at)
$$;
COMMENT ON FUNCTION ocpp.get_monitoring_report(text, jsonb, text[], integer, timestamptz) IS
    'Queues GetMonitoringReport (OCPP 2.0.1): component_variables as for ocpp.get_report, monitoring_criteria ThresholdMonitoring | DeltaMonitoring | PeriodicMonitoring, request_id a new one unless given. Its NotifyMonitoringReport pages fill ocpp.variable_monitors; follow them in ocpp.report_requests (kind monitoring). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.get_monitoring_report(text, jsonb, text[], integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.get_monitoring_report(text, jsonb, text[], integer, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.set_network_profile(
    charge_point_id text, configuration_slot integer, ocpp_csms_url text, security_profile integer,
    message_timeout integer DEFAULT 30, ocpp_interface text DEFAULT 'Wired0', ocpp_transport text DEFAULT 'JSON',
    ocpp_version text DEFAULT 'OCPP20', apn jsonb DEFAULT NULL, vpn jsonb DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'SetNetworkProfile', jsonb_build_object(
        'configurationSlot', configuration_slot,
        'connectionData', jsonb_strip_nulls(jsonb_build_object(
            'ocppVersion', ocpp_version, 'ocppTransport', ocpp_transport, 'ocppCsmsUrl', ocpp_csms_url,
            'messageTimeout', message_timeout, 'securityProfile', security_profile, 'ocppInterface', ocpp_interface,
            'apn', apn, 'vpn', vpn))), expires_at)
$$;
COMMENT ON FUNCTION ocpp.set_network_profile(text, integer, text, integer, integer, text, text, text, jsonb, jsonb, timestamptz) IS
    'Queues SetNetworkProfile (OCPP 2.0.1): configuration_slot (one of the station''s OCPPCommCtrlr.NetworkConfigurationPriority values), connectionData from ocpp_csms_url (without the station identity), security_profile, message_timeout (s), ocpp_interface, ocpp_transport, ocpp_version (OCPP20 for 2.0.1), apn and vpn objects (APNType, VPNType; their passwords never shown). Accepted: ocpp.network_profiles. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.set_network_profile(text, integer, text, integer, integer, text, text, text, jsonb, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_network_profile(text, integer, text, integer, integer, text, text, text, jsonb, jsonb, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.set_variable_monitoring(
    charge_point_id text, variable text DEFAULT NULL, type text DEFAULT NULL, value numeric DEFAULT NULL,
    severity integer DEFAULT NULL, evse_id integer DEFAULT NULL, connector_id integer DEFAULT NULL,
    transaction boolean DEFAULT NULL, id integer DEFAULT NULL, set_monitoring_data jsonb DEFAULT NULL,
    expires_at timestamptz DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    items jsonb := set_monitoring_data;
BEGIN
    IF (variable IS NULL) = (set_monitoring_data IS NULL) THEN
        RAISE EXCEPTION 'give either variable, type, value and severity (one monitor) or set_monitoring_data (SetMonitoringDataType list)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF variable IS NOT NULL THEN
        IF type IS NULL OR value IS NULL OR severity IS NULL THEN
            RAISE EXCEPTION 'a monitor has a type, a value and a severity'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'type UpperThreshold | LowerThreshold | Delta | Periodic | PeriodicClockAligned, severity 0 to 9';
        END IF;
        items := jsonb_build_array(ocpp._component_variable(variable, evse_id, connector_id)
            || jsonb_strip_nulls(jsonb_build_object('id', id, 'type', type, 'value', value, 'severity', severity,
                                                    'transaction', transaction)));
    END IF;
    RETURN QUERY SELECT ocpp._send_in_batches(
        charge_point_id, 'SetVariableMonitoring', 'setMonitoringData', items,
        ocpp._items_per_message(charge_point_id, 'MonitoringCtrlr', 'SetVariableMonitoring'), expires_at);
END
$$;
COMMENT ON FUNCTION ocpp.set_variable_monitoring(text, text, text, numeric, integer, integer, integer, boolean, integer, jsonb, timestamptz) IS
    'Queues SetVariableMonitoring (OCPP 2.0.1) for one monitor on variable ''Component[.instance]/Variable[.instance]'' (evse_id, connector_id): type UpperThreshold | LowerThreshold | Delta | Periodic | PeriodicClockAligned, value, severity 0-9, transaction (only during one), id to replace an existing monitor; or set_monitoring_data, a SetMonitoringDataType list as is (split per MonitoringCtrlr.ItemsPerMessage[SetVariableMonitoring] when known). Accepted monitors show in ocpp.variable_monitors. Returns one command id per command.';
REVOKE ALL ON FUNCTION ocpp.set_variable_monitoring(text, text, text, numeric, integer, integer, integer, boolean, integer, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_variable_monitoring(text, text, text, numeric, integer, integer, integer, boolean, integer, jsonb, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.clear_variable_monitoring(
    charge_point_id text, ids integer[], expires_at timestamptz DEFAULT NULL)
RETURNS SETOF bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp._send_in_batches(charge_point_id, 'ClearVariableMonitoring', 'id', to_jsonb(ids),
                                 ocpp._items_per_message(charge_point_id, 'MonitoringCtrlr', 'ClearVariableMonitoring'),
                                 expires_at)
$$;
COMMENT ON FUNCTION ocpp.clear_variable_monitoring(text, integer[], timestamptz) IS
    'Queues ClearVariableMonitoring (OCPP 2.0.1) for the monitors with these ids (ocpp.variable_monitors), split per MonitoringCtrlr.ItemsPerMessage[ClearVariableMonitoring] when known; Accepted and NotFound remove them from ocpp.variable_monitors. Returns one command id per command.';
REVOKE ALL ON FUNCTION ocpp.clear_variable_monitoring(text, integer[], timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.clear_variable_monitoring(text, integer[], timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.set_monitoring_base(
    charge_point_id text, monitoring_base text, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'SetMonitoringBase',
                     jsonb_strip_nulls(jsonb_build_object('monitoringBase', monitoring_base)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.set_monitoring_base(text, text, timestamptz) IS
    'Queues SetMonitoringBase (OCPP 2.0.1): monitoring_base All | FactoryDefault | HardWiredOnly. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.set_monitoring_base(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_monitoring_base(text, text, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.set_monitoring_level(
    charge_point_id text, severity integer, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ocpp.send(charge_point_id, 'SetMonitoringLevel',
                     jsonb_strip_nulls(jsonb_build_object('severity', severity)), expires_at)
$$;
COMMENT ON FUNCTION ocpp.set_monitoring_level(text, integer, timestamptz) IS
    'Queues SetMonitoringLevel (OCPP 2.0.1): the station reports events of monitors with this severity or more urgent (0 Danger ... 9 Debug). Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.set_monitoring_level(text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_monitoring_level(text, integer, timestamptz) TO pgcsms_operator;
