-- OCPP 2.0.1 monitoring (N02-N06): the monitors on each station's variables
-- (pgcsms.variable_monitors), as NotifyMonitoringReport reports them and as
-- SetVariableMonitoring and ClearVariableMonitoring change them. The
-- variables are the device model's (ocpp._device_variable).

CREATE OR REPLACE FUNCTION ocpp.v201_notify_monitoring_report(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    command bigint := ocpp._report_page(
        charge_point_id, unique_id, 'monitoring', payload,
        (SELECT count(*)::integer FROM jsonb_array_elements(ocpp._array(payload->'monitor')) AS x(m),
                                       jsonb_array_elements(ocpp._array(x.m->'variableMonitoring')) AS y(vm)));
BEGIN
    WITH monitored AS MATERIALIZED (
        SELECT x.n, x.m, ocpp._device_variable(v201_notify_monitoring_report.charge_point_id, x.m->'component',
                                               x.m->'variable') AS variable_id
          FROM jsonb_array_elements(ocpp._array(payload->'monitor')) WITH ORDINALITY AS x(m, n))
    INSERT INTO pgcsms.variable_monitors AS vm
        (charge_point_id, monitor_id, variable_id, type, severity, value, transaction, source, command_id)
    SELECT DISTINCT ON ((y.vm->>'id')::integer)
           v201_notify_monitoring_report.charge_point_id, (y.vm->>'id')::integer, g.variable_id, y.vm->>'type',
           (y.vm->>'severity')::integer, (y.vm->>'value')::numeric, coalesce((y.vm->>'transaction')::boolean, false),
           'report', command
      FROM monitored AS g
     CROSS JOIN LATERAL jsonb_array_elements(ocpp._array(g.m->'variableMonitoring')) WITH ORDINALITY AS y(vm, k)
     ORDER BY (y.vm->>'id')::integer, g.n DESC, y.k DESC
    ON CONFLICT ON CONSTRAINT variable_monitors_pkey DO UPDATE
       SET variable_id = excluded.variable_id, type = excluded.type, severity = excluded.severity,
           value = excluded.value, transaction = excluded.transaction, source = excluded.source,
           command_id = excluded.command_id, updated_at = now();
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v201_notify_monitoring_report(text, text, jsonb) IS
    'NotifyMonitoringReport (2.0.1): one page of a monitoring report (ocpp.report_requests, kind monitoring); each monitor (id, type, severity, value, transaction) on its component and variable into ocpp.variable_monitors. Answers {}.';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_set_variable_monitoring(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    -- A result names the monitor's id, type and severity but not its value:
    -- pair it with the request element in the same place, or else with the
    -- last one asking the same of the same variable.
    WITH asked AS (
        SELECT x.n, x.d, ocpp._reference_key(x.d->'component', x.d->'variable') AS key
          FROM jsonb_array_elements(ocpp._array(c.payload->'setMonitoringData')) WITH ORDINALITY AS x(d, n)),
    accepted AS MATERIALIZED (
        SELECT x.n, x.r, q.d, ocpp._device_variable(c.charge_point_id, x.r->'component', x.r->'variable') AS variable_id
          FROM jsonb_array_elements(ocpp._array(c.response->'setMonitoringResult')) WITH ORDINALITY AS x(r, n)
          CROSS JOIN LATERAL (
                SELECT a.d FROM asked AS a
                 WHERE a.key = ocpp._reference_key(x.r->'component', x.r->'variable')
                   AND a.d->>'type' = x.r->>'type' AND (a.d->>'severity')::integer = (x.r->>'severity')::integer
                 ORDER BY a.n = x.n DESC, a.n DESC LIMIT 1) AS q
         WHERE c.status = 'completed' AND x.r->>'status' = 'Accepted' AND x.r ? 'id')
    INSERT INTO pgcsms.variable_monitors AS vm
        (charge_point_id, monitor_id, variable_id, type, severity, value, transaction, source, command_id)
    SELECT DISTINCT ON ((s.r->>'id')::integer)
           c.charge_point_id, (s.r->>'id')::integer, s.variable_id, s.r->>'type', (s.r->>'severity')::integer,
           (s.d->>'value')::numeric, coalesce((s.d->>'transaction')::boolean, false), 'set', c.id
      FROM accepted AS s
     ORDER BY (s.r->>'id')::integer, s.n DESC
    ON CONFLICT ON CONSTRAINT variable_monitors_pkey DO UPDATE
       SET variable_id = excluded.variable_id, type = excluded.type, severity = excluded.severity,
           value = excluded.value, transaction = excluded.transaction, source = excluded.source,
           command_id = excluded.command_id, updated_at = now()
$$;
COMMENT ON FUNCTION ocpp._v201_effect_set_variable_monitoring(pgcsms.commands) IS
    'SetVariableMonitoring answered: each result Accepted adds (or, with an id sent, replaces) the monitor with the id the station gave it, with the value and transaction flag sent, in ocpp.variable_monitors. Other results (UnknownComponent, UnknownVariable, UnsupportedMonitorType, Rejected, Duplicate) stay in the command.';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_clear_variable_monitoring(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    -- NotFound: the station has no such monitor, so neither do we.
    DELETE FROM pgcsms.variable_monitors AS vm
     WHERE vm.charge_point_id = c.charge_point_id AND c.status = 'completed'
       AND vm.monitor_id IN (SELECT (x.r->>'id')::integer
                               FROM jsonb_array_elements(ocpp._array(c.response->'clearMonitoringResult')) AS x(r)
                              WHERE x.r->>'status' IN ('Accepted', 'NotFound'))
$$;
COMMENT ON FUNCTION ocpp._v201_effect_clear_variable_monitoring(pgcsms.commands) IS
    'ClearVariableMonitoring answered: monitors whose result is Accepted or NotFound leave ocpp.variable_monitors; Rejected ones stay.';
