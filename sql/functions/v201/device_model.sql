-- OCPP 2.0.1 device model (B05-B08): each station's components and
-- variables (pgcsms.device_model_variables) with their attributes
-- (pgcsms.device_model_attributes), written by NotifyReport pages and by the
-- answers to GetVariables and SetVariables; the report requests and their
-- pages (pgcsms.report_requests, report_pages). Everything is keyed by the
-- station: one station's model never overwrites another's.

-- The row of a component's variable on this station, made if new; names and
-- instances compare case-insensitively and take the latest spelling.
-- Characteristics come with reports only: without them the row keeps its own.
CREATE OR REPLACE FUNCTION ocpp._device_variable(
    charge_point_id text, component jsonb, variable jsonb, characteristics jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
AS $$
    INSERT INTO pgcsms.device_model_variables AS v
        (charge_point_id, component, component_instance, evse_id, connector_id, variable, variable_instance,
         unit, data_type, min_limit, max_limit, values_list, supports_monitoring)
    VALUES ($1, $2->>'name', $2->>'instance', ($2->'evse'->>'id')::integer, ($2->'evse'->>'connectorId')::integer,
            $3->>'name', $3->>'instance', $4->>'unit', $4->>'dataType', ($4->>'minLimit')::numeric,
            ($4->>'maxLimit')::numeric, $4->>'valuesList', ($4->>'supportsMonitoring')::boolean)
    ON CONFLICT (charge_point_id, upper(component), upper(coalesce(component_instance, '')), coalesce(evse_id, -1),
                 coalesce(connector_id, -1), upper(variable), upper(coalesce(variable_instance, '')))
    DO UPDATE SET
        component = excluded.component, component_instance = excluded.component_instance,
        variable = excluded.variable, variable_instance = excluded.variable_instance,
        unit = CASE WHEN $4 IS NULL THEN v.unit ELSE excluded.unit END,
        data_type = CASE WHEN $4 IS NULL THEN v.data_type ELSE excluded.data_type END,
        min_limit = CASE WHEN $4 IS NULL THEN v.min_limit ELSE excluded.min_limit END,
        max_limit = CASE WHEN $4 IS NULL THEN v.max_limit ELSE excluded.max_limit END,
        values_list = CASE WHEN $4 IS NULL THEN v.values_list ELSE excluded.values_list END,
        supports_monitoring = CASE WHEN $4 IS NULL THEN v.supports_monitoring ELSE excluded.supports_monitoring END,
        updated_at = now()
    RETURNING v.id
$$;
COMMENT ON FUNCTION ocpp._device_variable(text, jsonb, jsonb, jsonb) IS
    'The id of a station''s variable (an OCPP 2.0.1 ComponentType and VariableType) in pgcsms.device_model_variables, added if new; characteristics (VariableCharacteristicsType) replace the stored ones when given.';

-- Which component/variable/attribute a request element and a result element
-- are about, to pair SetVariables results with what was set.
CREATE OR REPLACE FUNCTION ocpp._reference_key(component jsonb, variable jsonb, attribute_type text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_array(upper(component->>'name'), upper(coalesce(component->>'instance', '')),
                             component->'evse'->'id', component->'evse'->'connectorId',
                             upper(variable->>'name'), upper(coalesce(variable->>'instance', '')),
                             coalesce(attribute_type, 'Actual'))
$$;
COMMENT ON FUNCTION ocpp._reference_key(jsonb, jsonb, text) IS
    'What an OCPP 2.0.1 component, variable and attribute type designate, as one comparable value (names and instances case-insensitive, attribute type Actual when omitted).';

-- How many items one message of this kind may carry, as the station said
-- (e.g. DeviceDataCtrlr.ItemsPerMessage[GetVariables]); NULL when unknown.
CREATE OR REPLACE FUNCTION ocpp._items_per_message(charge_point_id text, component text, message text)
RETURNS integer
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN a.value ~ '^\s*\d{1,9}\s*$' AND a.value::integer > 0 THEN a.value::integer END
      FROM pgcsms.device_model_variables AS v
      JOIN pgcsms.device_model_attributes AS a
        ON (a.charge_point_id, a.variable_id, a.attribute_type) = (v.charge_point_id, v.id, 'Actual')
     WHERE v.charge_point_id = _items_per_message.charge_point_id
       AND upper(v.component) = upper(_items_per_message.component) AND upper(coalesce(v.component_instance, '')) = ''
       AND coalesce(v.evse_id, -1) = -1 AND coalesce(v.connector_id, -1) = -1
       AND upper(v.variable) = 'ITEMSPERMESSAGE' AND upper(coalesce(v.variable_instance, '')) = upper(message)
$$;
COMMENT ON FUNCTION ocpp._items_per_message(text, text, text) IS
    'The station''s <component>.ItemsPerMessage[<message>] from its device model (e.g. DeviceDataCtrlr, GetVariables), NULL when not known: the most items one such message may carry (B06.FR.05).';

-- One page of a report (NotifyReport, NotifyMonitoringReport). Pages may
-- arrive before the answer to our request is recorded, and a station may
-- report unasked: the page makes the request's row then.
CREATE OR REPLACE FUNCTION ocpp._report_page(
    charge_point_id text, unique_id text, kind text, payload jsonb, items integer)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    request integer := (payload->>'requestId')::integer;
    completed boolean;
    command bigint;
BEGIN
    INSERT INTO pgcsms.report_requests (charge_point_id, kind, request_id)
    VALUES (_report_page.charge_point_id, _report_page.kind, request)
    ON CONFLICT ON CONSTRAINT report_requests_pkey DO NOTHING;
    INSERT INTO pgcsms.report_pages AS p
        (charge_point_id, kind, request_id, seq_no, tbc, generated_at, items, unique_id)
    VALUES (_report_page.charge_point_id, _report_page.kind, request, (payload->>'seqNo')::integer,
            coalesce((payload->>'tbc')::boolean, false), ocpp._ts(payload->>'generatedAt'), _report_page.items,
            _report_page.unique_id)
    ON CONFLICT ON CONSTRAINT report_pages_pkey DO UPDATE
       SET tbc = excluded.tbc, generated_at = excluded.generated_at, items = excluded.items,
           unique_id = excluded.unique_id, received_at = now();
    -- Complete once the last page (tbc false) and every page before it are in, in whatever order they came.
    UPDATE pgcsms.report_requests AS r SET completed_at = now()
     WHERE (r.charge_point_id, r.kind, r.request_id) = (_report_page.charge_point_id, _report_page.kind, request)
       AND r.completed_at IS NULL
       AND EXISTS (SELECT FROM pgcsms.report_pages AS last
                    WHERE (last.charge_point_id, last.kind, last.request_id) = (r.charge_point_id, r.kind, r.request_id)
                      AND NOT last.tbc
                      AND (SELECT count(*) FROM pgcsms.report_pages AS p
                            WHERE (p.charge_point_id, p.kind, p.request_id) = (r.charge_point_id, r.kind, r.request_id)
                              AND p.seq_no BETWEEN 0 AND last.seq_no) = last.seq_no + 1)
    RETURNING true INTO completed;
    IF completed THEN
        PERFORM pg_notify('ocpp_event', jsonb_build_object(
            'event', 'report_completed', 'charge_point_id', charge_point_id, 'kind', kind,
            'request_id', request)::text);
    END IF;
    SELECT r.command_id INTO command FROM pgcsms.report_requests AS r
     WHERE (r.charge_point_id, r.kind, r.request_id) = (_report_page.charge_point_id, _report_page.kind, request);
    RETURN command;
END
$$;
COMMENT ON FUNCTION ocpp._report_page(text, text, text, jsonb, integer) IS
    'Records one page (requestId, seqNo, tbc, generatedAt, item count) of a 2.0.1 report of this kind (device_model, monitoring), making its request''s row if it has none; marks the request complete, with ocpp_event {"event":"report_completed",...}, once the last page and all before it are in. Returns the command that asked for the report, if known.';

CREATE OR REPLACE FUNCTION ocpp.v201_notify_report(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    command bigint := ocpp._report_page(charge_point_id, unique_id, 'device_model', payload,
                                        jsonb_array_length(ocpp._array(payload->'reportData')));
BEGIN
    WITH items AS MATERIALIZED (
        SELECT x.n, x.e, ocpp._device_variable(v201_notify_report.charge_point_id, x.e->'component', x.e->'variable',
                                               x.e->'variableCharacteristics') AS variable_id
          FROM jsonb_array_elements(ocpp._array(payload->'reportData')) WITH ORDINALITY AS x(e, n))
    INSERT INTO pgcsms.device_model_attributes AS a
        (charge_point_id, variable_id, attribute_type, value, mutability, persistent, constant, source, command_id)
    SELECT DISTINCT ON (i.variable_id, coalesce(y.va->>'type', 'Actual'))
           v201_notify_report.charge_point_id, i.variable_id, coalesce(y.va->>'type', 'Actual'),
           CASE WHEN NOT ocpp._is_secret_variable(i.e->'variable'->>'name') THEN y.va->>'value' END,
           y.va->>'mutability', coalesce((y.va->>'persistent')::boolean, false),
           coalesce((y.va->>'constant')::boolean, false), 'report', command
      FROM items AS i
     CROSS JOIN LATERAL jsonb_array_elements(ocpp._array(i.e->'variableAttribute')) WITH ORDINALITY AS y(va, m)
     ORDER BY i.variable_id, coalesce(y.va->>'type', 'Actual'), i.n DESC, y.m DESC
    ON CONFLICT ON CONSTRAINT device_model_attributes_pkey DO UPDATE
       SET value = excluded.value, mutability = excluded.mutability, persistent = excluded.persistent,
           constant = excluded.constant, source = excluded.source, command_id = excluded.command_id,
           updated_at = now();
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v201_notify_report(text, text, jsonb) IS
    'NotifyReport (2.0.1): one page of a report (ocpp.report_requests); each reportData item fills the station''s device model (ocpp.device_variables): the component and variable with its characteristics, each variableAttribute (type Actual when omitted) with value, mutability, persistent and constant. A secret (BasicAuthPassword) is never stored. Answers {}.';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_report_request(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    report_kind text := CASE c.action WHEN 'GetMonitoringReport' THEN 'monitoring' ELSE 'device_model' END;
    request integer := (c.payload->>'requestId')::integer;
BEGIN
    IF c.status NOT IN ('accepted', 'rejected') THEN
        RETURN;
    END IF;
    -- A requestId another request used before starts over.
    DELETE FROM pgcsms.report_requests AS r
     WHERE (r.charge_point_id, r.kind, r.request_id) = (c.charge_point_id, report_kind, request)
       AND r.command_id <> c.id;
    INSERT INTO pgcsms.report_requests AS r
        (charge_point_id, kind, request_id, action, command_id, criteria, status, requested_at, answered_at,
         completed_at)
    VALUES (c.charge_point_id, report_kind, request, c.action, c.id, c.payload - 'requestId',
            c.response->>'status', c.created_at, c.completed_at,
            CASE WHEN c.response->>'status' = 'EmptyResultSet' THEN c.completed_at END)
    ON CONFLICT ON CONSTRAINT report_requests_pkey DO UPDATE
       SET action = excluded.action, command_id = excluded.command_id, criteria = excluded.criteria,
           status = excluded.status, requested_at = excluded.requested_at, answered_at = excluded.answered_at,
           completed_at = coalesce(r.completed_at, excluded.completed_at);
END
$$;
COMMENT ON FUNCTION ocpp._v201_effect_report_request(pgcsms.commands) IS
    'GetBaseReport, GetReport, GetMonitoringReport answered: the report request in ocpp.report_requests with the station''s status (Accepted: its NotifyReport or NotifyMonitoringReport pages follow with this requestId; EmptyResultSet: complete, nothing follows; Rejected, NotSupported: nothing follows). Pages that came before the answer keep counting.';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_get_variables(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    WITH accepted AS MATERIALIZED (
        SELECT x.n, x.r, ocpp._device_variable(c.charge_point_id, x.r->'component', x.r->'variable') AS variable_id
          FROM jsonb_array_elements(ocpp._array(c.response->'getVariableResult')) WITH ORDINALITY AS x(r, n)
         WHERE c.status = 'completed' AND x.r->>'attributeStatus' = 'Accepted')
    INSERT INTO pgcsms.device_model_attributes AS a
        (charge_point_id, variable_id, attribute_type, value, source, command_id)
    SELECT DISTINCT ON (g.variable_id, coalesce(g.r->>'attributeType', 'Actual'))
           c.charge_point_id, g.variable_id, coalesce(g.r->>'attributeType', 'Actual'),
           CASE WHEN NOT ocpp._is_secret_variable(g.r->'variable'->>'name') THEN g.r->>'attributeValue' END,
           'get', c.id
      FROM accepted AS g
     ORDER BY g.variable_id, coalesce(g.r->>'attributeType', 'Actual'), g.n DESC
    ON CONFLICT ON CONSTRAINT device_model_attributes_pkey DO UPDATE
       SET value = excluded.value, source = excluded.source, command_id = excluded.command_id, updated_at = now()
$$;
COMMENT ON FUNCTION ocpp._v201_effect_get_variables(pgcsms.commands) IS
    'GetVariables answered: each result Accepted sets that attribute''s value in the station''s device model (ocpp.device_variables, source get); the other results (Rejected, UnknownComponent, UnknownVariable, NotSupportedAttributeType) stay in the command (ocpp.variable_results).';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_set_variables(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status <> 'completed' THEN
        RETURN;
    END IF;
    -- A01: the station took a new BasicAuthPassword; anything else keeps the old one.
    IF EXISTS (SELECT FROM jsonb_array_elements(ocpp._array(c.response->'setVariableResult')) AS x(r)
                WHERE ocpp._is_secret_variable(x.r->'variable'->>'name')
                  AND coalesce(x.r->>'attributeType', 'Actual') = 'Actual'
                  AND x.r->>'attributeStatus' IN ('Accepted', 'RebootRequired')) THEN
        PERFORM ocpp._take_new_password(c);
    END IF;
    -- Results name what they answer, not the value: pair each with what was set.
    WITH requested AS (
        SELECT DISTINCT ON (q.key) q.key, q.d
          FROM (SELECT ocpp._reference_key(x.d->'component', x.d->'variable', x.d->>'attributeType') AS key, x.d, x.n
                  FROM jsonb_array_elements(ocpp._array(c.payload->'setVariableData')) WITH ORDINALITY AS x(d, n)) AS q
         ORDER BY q.key, q.n DESC),
    taken AS MATERIALIZED (
        SELECT x.n, x.r, q.d, ocpp._device_variable(c.charge_point_id, x.r->'component', x.r->'variable') AS variable_id
          FROM jsonb_array_elements(ocpp._array(c.response->'setVariableResult')) WITH ORDINALITY AS x(r, n)
          JOIN requested AS q ON q.key = ocpp._reference_key(x.r->'component', x.r->'variable', x.r->>'attributeType')
         WHERE x.r->>'attributeStatus' IN ('Accepted', 'RebootRequired'))
    INSERT INTO pgcsms.device_model_attributes AS a
        (charge_point_id, variable_id, attribute_type, value, source, reboot_required_since, command_id)
    SELECT DISTINCT ON (t.variable_id, coalesce(t.r->>'attributeType', 'Actual'))
           c.charge_point_id, t.variable_id, coalesce(t.r->>'attributeType', 'Actual'),
           CASE WHEN NOT ocpp._is_secret_variable(t.r->'variable'->>'name') THEN t.d->>'attributeValue' END, 'set',
           CASE WHEN t.r->>'attributeStatus' = 'RebootRequired' THEN now() END, c.id
      FROM taken AS t
     ORDER BY t.variable_id, coalesce(t.r->>'attributeType', 'Actual'), t.n DESC
    ON CONFLICT ON CONSTRAINT device_model_attributes_pkey DO UPDATE
       SET value = excluded.value, source = excluded.source, command_id = excluded.command_id,
           reboot_required_since = coalesce(excluded.reboot_required_since, a.reboot_required_since),
           updated_at = now();
END
$$;
COMMENT ON FUNCTION ocpp._v201_effect_set_variables(pgcsms.commands) IS
    'SetVariables answered: each result Accepted or RebootRequired sets that attribute to the value sent (ocpp.device_variables, source set; RebootRequired: reboot_required until the station boots again); the other results stay in the command (ocpp.variable_results). A BasicAuthPassword Accepted or RebootRequired becomes the station''s password (ocpp._take_new_password), as a 1.6 AuthorizationKey does; refused, the old one stays.';
