-- OCPP 2.0.1 availability (functional block G) and events (N07/N08):
-- StatusNotification, NotifyEvent, and what an accepted ChangeAvailability
-- changes. Connector states follow 1.6's rules (ocpp._connector_status),
-- addressed by the station's evseId and connectorId.

CREATE OR REPLACE FUNCTION ocpp.v201_status_notification(charge_point_id text, unique_id text, payload jsonb,
                                                         ocpp_version text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM ocpp._status_notifications(ARRAY[charge_point_id], ARRAY[unique_id], ARRAY[payload], ARRAY[ocpp_version]);
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v201_status_notification(text, text, jsonb, text) IS
    'StatusNotification (2.0.1 and 2.1): the connectorStatus of (evseId, connectorId) in ocpp.connectors and ocpp.status_history, by the rules 1.6 follows (ocpp._status_notifications for one: a replay older than the state held goes to the history only). Answers {}.';

-- Every event is kept. A station may report its connectors' states as
-- events (component Connector, variable AvailabilityState) rather than with
-- StatusNotification (G01, pitfall 11): those set the connector's status too,
-- in the order they happened. An EVSE's own state is connector 0 of it, the
-- station's EVSE 0.
CREATE OR REPLACE FUNCTION ocpp.v201_notify_event(charge_point_id text, unique_id text, payload jsonb, ocpp_version text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    e record;
BEGIN
    INSERT INTO pgcsms.station_events AS s
        (charge_point_id, event_id, charger_at, trigger, cause, actual_value, tech_code, tech_info, cleared,
         transaction_id, component, component_instance, evse_id, connector_id, variable, variable_instance,
         variable_monitoring_id, event_notification_type, seq_no, tbc, generated_at, unique_id)
    SELECT v201_notify_event.charge_point_id, (d->>'eventId')::integer, ocpp._ts(d->>'timestamp'), d->>'trigger',
           (d->>'cause')::integer, d->>'actualValue', d->>'techCode', d->>'techInfo', (d->>'cleared')::boolean,
           d->>'transactionId', d->'component'->>'name', d->'component'->>'instance',
           (d->'component'->'evse'->>'id')::integer, (d->'component'->'evse'->>'connectorId')::integer,
           d->'variable'->>'name', d->'variable'->>'instance', (d->>'variableMonitoringId')::integer,
           d->>'eventNotificationType', (payload->>'seqNo')::integer, coalesce((payload->>'tbc')::boolean, false),
           ocpp._ts(payload->>'generatedAt'), v201_notify_event.unique_id
      FROM jsonb_array_elements(ocpp._array(payload->'eventData')) AS x(d)
    ON CONFLICT DO NOTHING;  -- the same eventId at the same time: a resent message

    FOR e IN
        SELECT ocpp._ts(d->>'timestamp') AS at, d->>'actualValue' AS state,
               CASE WHEN upper(d->'component'->>'name') = 'CONNECTOR' THEN (d->'component'->'evse'->>'id')::integer
                    WHEN upper(d->'component'->>'name') = 'EVSE' THEN (d->'component'->'evse'->>'id')::integer
                    ELSE 0 END AS evse_id,
               CASE WHEN upper(d->'component'->>'name') = 'CONNECTOR'
                    THEN (d->'component'->'evse'->>'connectorId')::integer ELSE 0 END AS connector_id
          FROM jsonb_array_elements(ocpp._array(payload->'eventData')) WITH ORDINALITY AS x(d, n)
         WHERE upper(d->'variable'->>'name') = 'AVAILABILITYSTATE'
           AND (upper(d->'component'->>'name') = 'CHARGINGSTATION'
                OR (upper(d->'component'->>'name') = 'EVSE' AND d->'component'->'evse' ? 'id')
                OR (upper(d->'component'->>'name') = 'CONNECTOR' AND d->'component'->'evse' ?& ARRAY['id', 'connectorId']))
         ORDER BY ocpp._ts(d->>'timestamp'), n
    LOOP
        PERFORM ocpp._connector_status(charge_point_id, unique_id, ocpp_version, e.evse_id, e.connector_id, e.state, e.at);
    END LOOP;
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v201_notify_event(text, text, jsonb, text) IS
    'NotifyEvent (2.0.1 and 2.1): every event into ocpp.station_events (a resent one, same eventId and time, once), with the message''s seqNo, tbc and generatedAt. An AvailabilityState event of a Connector (evse id and connectorId), an EVSE (connector 0 of it) or the ChargingStation (EVSE 0) sets that status as a StatusNotification would (ocpp._connector_status). Answers {}.';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_change_availability(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    SELECT ocpp._record_availability(c, coalesce((c.payload->'evse'->>'id')::integer, 0),
                                     coalesce((c.payload->'evse'->>'connectorId')::integer, 0),
                                     c.payload->>'operationalStatus')
$$;
COMMENT ON FUNCTION ocpp._v201_effect_change_availability(pgcsms.commands) IS
    'ChangeAvailability (2.0.1) Accepted or Scheduled: the requested operationalStatus in ocpp.connector_availability (ocpp._record_availability): of (evse.id, evse.connectorId), of the EVSE as connector 0 when no connectorId, of the whole station as (0, 0) when no evse.';
