CREATE OR REPLACE FUNCTION ocpp.on_start_transaction(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    connector integer := (payload->>'connectorId')::integer;
    presented_tag text := payload->>'idTag';
    charger_time timestamptz := ocpp._ts(payload->>'timestamp');
    reservation integer := (payload->>'reservationId')::integer;
    existing pgcsms.transactions;
    info jsonb;
    new_id bigint;
BEGIN
    -- One StartTransaction of a charger at a time: a resend on a new socket
    -- while the first is still being handled must find it, not open a twin.
    PERFORM FROM pgcsms.charge_points AS cp WHERE cp.id = on_start_transaction.charge_point_id FOR NO KEY UPDATE;
    -- A resend (same uniqueId, or the same connector, time and tag after the
    -- charger lost our answer) gets the transaction it already has. A uniqueId
    -- alone proves little: much firmware numbers from 1 again after a reboot.
    SELECT * INTO existing FROM pgcsms.transactions AS tx
     WHERE tx.charge_point_id = on_start_transaction.charge_point_id
       AND tx.connector_id = connector AND upper(tx.id_tag) = upper(presented_tag)
       AND ((tx.start_unique_id = unique_id AND tx.stopped_at IS NULL) OR tx.started_at = charger_time)
     ORDER BY tx.id LIMIT 1;
    IF FOUND THEN
        RETURN jsonb_build_object('transactionId', existing.id, 'idTagInfo',
            jsonb_strip_nulls(jsonb_build_object('status', existing.authorization_status,
                                                 'parentIdTag', existing.parent_id_tag)));
    END IF;

    -- A charger starts only on a free connector: one still open there lost
    -- its StopTransaction (ocpp._supersede_open_transactions).
    PERFORM ocpp._supersede_open_transactions(charge_point_id, connector, charger_time, unique_id);

    info := ocpp._authorization(charge_point_id, presented_tag);
    -- A connector reserved for another tag (ocpp._reserved_for_other).
    IF info->>'status' = 'Accepted'
       AND ocpp._reserved_for_other(charge_point_id, connector, presented_tag, reservation) THEN
        info := jsonb_build_object('status', 'Invalid');
    END IF;

    INSERT INTO pgcsms.transactions
        (charge_point_id, evse_id, connector_id, id_tag, parent_id_tag, authorization_status, reservation_id,
         meter_start, started_at, start_unique_id, remote_command_id)
    VALUES (charge_point_id, connector, connector, presented_tag, info->>'parentIdTag', info->>'status', reservation,
            (payload->>'meterStart')::bigint, charger_time, unique_id,
            ocpp._remote_start_command(charge_point_id, connector, presented_tag))
    RETURNING id INTO new_id;

    IF reservation IS NOT NULL THEN
        PERFORM ocpp._use_reservation(charge_point_id, reservation, new_id, unique_id);
    END IF;

    PERFORM ocpp._check_clock(charge_point_id, unique_id, charger_time);
    PERFORM pg_notify('ocpp_event', jsonb_build_object(
        'event', 'transaction_started', 'charge_point_id', charge_point_id, 'transaction_id', new_id,
        'connector_id', connector, 'id_tag', presented_tag, 'authorization_status', info->>'status')::text);
    RETURN jsonb_build_object('transactionId', new_id, 'idTagInfo', info);
END
$$;
COMMENT ON FUNCTION ocpp.on_start_transaction(text, text, jsonb) IS
    'StartTransaction: opens a transaction with a database-generated transactionId and answers idTagInfo; a resent StartTransaction gets the same transactionId; a transaction left open on the connector is closed and flagged.';

-- A connector (1.6) or EVSE (2.0.1) serves one transaction at a time: when a
-- new one starts there, one still open lost its end. Close it at the new
-- start (never before its own), and flag it for review; a late stop fills it
-- in. Only those that started before new_start, when only_older: 2.0.1
-- events arrive out of order, so the newest is not always the last heard of.
CREATE OR REPLACE FUNCTION ocpp._supersede_open_transactions(
    charge_point_id text, evse_id integer, new_start timestamptz, unique_id text, keep bigint DEFAULT NULL,
    only_older boolean DEFAULT false)
RETURNS void
LANGUAGE sql
AS $$
    WITH superseded AS (
        UPDATE pgcsms.transactions AS tx
           SET stopped_at = greatest(tx.started_at, new_start)
         WHERE tx.charge_point_id = _supersede_open_transactions.charge_point_id
           AND tx.evse_id = _supersede_open_transactions.evse_id AND tx.stopped_at IS NULL
           AND tx.id IS DISTINCT FROM keep AND (NOT only_older OR tx.started_at < new_start)
        RETURNING tx.id)
    INSERT INTO pgcsms.anomalies (charge_point_id, kind, unique_id, transaction_id, detail)
    SELECT charge_point_id, 'superseded_transaction', unique_id, s.id,
           jsonb_build_object('reason', 'a new transaction started on its connector', 'connector_id', evse_id)
      FROM superseded AS s
$$;
COMMENT ON FUNCTION ocpp._supersede_open_transactions(text, integer, timestamptz, text, bigint, boolean) IS
    'Closes (stopped_at = the new start, never before its own start) and flags as superseded_transaction the transactions still open on the EVSE (a 1.6 connector) where a new one starts, but keep; with only_older, only those that started before new_start.';
