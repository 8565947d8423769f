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

    -- A charger starts only on a free connector: a transaction still open
    -- there lost its StopTransaction. Close it (a late stop fills it in) and
    -- flag it for review.
    WITH superseded AS (
        UPDATE pgcsms.transactions AS tx
           SET stopped_at = greatest(tx.started_at, charger_time)
         WHERE tx.charge_point_id = on_start_transaction.charge_point_id
           AND tx.connector_id = connector AND tx.stopped_at IS NULL
        RETURNING tx.id)
    INSERT INTO pgcsms.anomalies (charge_point_id, kind, unique_id, transaction_id, detail)
    SELECT charge_point_id, 'superseded_transaction', unique_id, s.id,
           jsonb_build_object('reason', 'a new transaction started on its connector', 'connector_id', connector)
      FROM superseded AS s;

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
        UPDATE pgcsms.reservations AS r SET status = 'Used', transaction_id = new_id, updated_at = now()
         WHERE r.id = reservation AND r.charge_point_id = on_start_transaction.charge_point_id
           AND r.status IN ('Requested', 'Accepted');
        IF NOT FOUND THEN
            INSERT INTO pgcsms.anomalies (charge_point_id, kind, unique_id, transaction_id, detail)
            VALUES (charge_point_id, 'unknown_reservation', unique_id, new_id,
                    jsonb_build_object('reservation_id', reservation));
        END IF;
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
