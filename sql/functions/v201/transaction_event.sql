-- OCPP 2.0.1 TransactionEvent (E, J02): the station names its transaction and
-- tells its story in numbered events (seqNo) that may come late, twice, out
-- of order, or without the Started one (offline replays, E04/E08/E11,
-- TC_E_31), and it cannot be refused: a CALLERROR only makes the station send
-- it again (E13). So every event is kept (pgcsms.transaction_events), a
-- resend gets the answer the first one got, and the transaction's row is
-- derived again from all of its events in seqNo order: a late event never
-- overwrites what a later one said.

CREATE OR REPLACE FUNCTION ocpp.v201_transaction_event(charge_point_id text, unique_id text, payload jsonb,
                                                       ocpp_version text)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    info jsonb := payload->'transactionInfo';
    tx_ref text := payload->'transactionInfo'->>'transactionId';
    seq bigint := (payload->>'seqNo')::bigint;
    kind text := payload->>'eventType';
    happened_at timestamptz := ocpp._ts(payload->>'timestamp');
    queued_offline boolean := coalesce((payload->>'offline')::boolean, false);
    evse integer := (payload->'evse'->>'id')::integer;
    connector integer := (payload->'evse'->>'connectorId')::integer;
    token text := payload->'idToken'->>'idToken';
    token_type text := payload->'idToken'->>'type';
    reservation bigint := (payload->>'reservationId')::bigint;
    -- A token presented to stop starts nothing: no ConcurrentTx, no reservation.
    stopping boolean := payload->>'triggerReason' = 'StopAuthorized' OR payload->>'eventType' = 'Ended';
    tx pgcsms.transactions;
    was pgcsms.transactions;
    created boolean := false;
    previous pgcsms.transaction_events;
    this_event_no integer := 0;
    cost jsonb;
    token_info jsonb;
    answer jsonb := '{}';
BEGIN
    -- Most events are the next Updated of a session: applied as such
    -- (ocpp._v201_events_in_order, which the group commit runs for a batch).
    answer := (ocpp._v201_events_in_order(ARRAY[charge_point_id], ARRAY[unique_id], ARRAY[payload],
                                          ARRAY[ocpp_version]))[1];
    IF answer IS NOT NULL THEN
        RETURN answer;
    END IF;
    answer := '{}';
    -- The transaction, made by whichever of its events comes first. Looked up
    -- before inserting: a conflicting INSERT would use up an id.
    SELECT * INTO tx FROM pgcsms.transactions AS t
     WHERE t.charge_point_id = v201_transaction_event.charge_point_id AND t.remote_id = tx_ref
       FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO pgcsms.transactions AS t
            (charge_point_id, remote_id, ocpp_version, evse_id, connector_id, started_at, start_unique_id)
        VALUES (charge_point_id, tx_ref, ocpp_version, evse, connector, happened_at, unique_id)
        ON CONFLICT ON CONSTRAINT transactions_charge_point_id_remote_id_key DO NOTHING
        RETURNING t.* INTO tx;
        created := FOUND;
        IF NOT created THEN  -- a twin of this event made it meanwhile
            SELECT * INTO STRICT tx FROM pgcsms.transactions AS t
             WHERE t.charge_point_id = v201_transaction_event.charge_point_id AND t.remote_id = tx_ref
               FOR UPDATE;
        END IF;
    END IF;
    was := tx;

    -- One transaction at a time on an EVSE: an older one still open there
    -- lost its end (ocpp._supersede_open_transactions), which frees its token.
    IF coalesce(evse, tx.evse_id) IS NOT NULL AND tx.stopped_at IS NULL
       AND (created OR tx.evse_id IS NULL OR kind = 'Started') THEN
        PERFORM ocpp._supersede_open_transactions(
            charge_point_id, coalesce(evse, tx.evse_id), CASE WHEN kind = 'Started' THEN happened_at ELSE tx.started_at END,
            unique_id, keep => tx.id, only_older => true);
    END IF;

    -- The RequestStartTransaction it echoes, linked before its token is
    -- judged: the id we sent is this transaction's however late the EV was
    -- plugged in, or the command waited in the queue (ocpp._authorize_token).
    IF tx.remote_command_id IS NULL AND info ? 'remoteStartId' THEN
        tx.remote_command_id := ocpp._remote_start_command_v201(charge_point_id, (info->>'remoteStartId')::bigint);
        IF tx.remote_command_id IS NOT NULL THEN
            UPDATE pgcsms.transactions AS t SET remote_command_id = tx.remote_command_id WHERE t.id = tx.id;
        END IF;
    END IF;

    -- The token it carries, checked by the rule of every version (C12.FR.03,
    -- E01.FR.11): answered even when the station took it from its cache or
    -- local list, and whatever the answer the transaction stays (the station
    -- decides whether to stop). ConcurrentTx only when the operator asks for
    -- it (v201_concurrent_tx): one token may charge on several EVSEs (TC_C_48).
    IF payload ? 'idToken' THEN
        token_info := ocpp._authorize_token(
            charge_point_id, token, token_type,
            check_concurrent => NOT stopping AND coalesce(ocpp._setting('v201_concurrent_tx') = 'on', false),
            own_transaction => tx.id);
        IF NOT stopping AND token_info->>'status' = 'Accepted' AND coalesce(evse, tx.evse_id) IS NOT NULL
           AND ocpp._reserved_for_other(charge_point_id, coalesce(evse, tx.evse_id), token,
                                        CASE WHEN reservation BETWEEN 0 AND 2147483647 THEN reservation::integer END) THEN
            token_info := jsonb_build_object('status', 'Invalid');
        END IF;
        answer := jsonb_build_object('idTokenInfo', ocpp._v201_id_token_info(token_info));
    END IF;

    -- A resend (the same event again): the answer it had. Another event under
    -- a seqNo already used (a counter restarted after a reboot): kept and
    -- applied after the ones of that seqNo that came before it, and flagged.
    SELECT * INTO previous FROM pgcsms.transaction_events AS e
     WHERE e.charge_point_id = v201_transaction_event.charge_point_id AND e.remote_id = tx_ref AND e.seq_no = seq
     ORDER BY e.payload = v201_transaction_event.payload DESC, e.event_no DESC
     LIMIT 1;
    IF FOUND THEN
        IF previous.payload = payload THEN
            RETURN previous.response;
        END IF;
        this_event_no := previous.event_no + 1;
        INSERT INTO pgcsms.anomalies (charge_point_id, kind, unique_id, transaction_id, detail)
        VALUES (charge_point_id, 'transaction_event_conflict', unique_id, tx.id,
                jsonb_build_object('transaction_id', tx_ref, 'seq_no', seq, 'event_no', this_event_no,
                                   'first_unique_id', (
                                       SELECT e.unique_id FROM pgcsms.transaction_events AS e
                                        WHERE e.charge_point_id = v201_transaction_event.charge_point_id
                                          AND e.remote_id = tx_ref AND e.seq_no = seq AND e.event_no = 0),
                                   'payload', payload));
    END IF;

    PERFORM ocpp._keep_transaction_events(
        ARRAY[charge_point_id], ARRAY[unique_id], ARRAY[payload], ARRAY[tx.id], ARRAY[this_event_no],
        ARRAY[token_info->>'status'], ARRAY[token_info->>'group_id_token'], ARRAY[answer]);

    IF payload ? 'meterValue' THEN
        PERFORM ocpp._store_meter_values(charge_point_id, coalesce(evse, tx.evse_id), coalesce(connector, tx.connector_id),
                                         tx.id, true, payload->'meterValue', 'TransactionEvent', ocpp_version);
    END IF;

    tx := ocpp._v201_derive_transaction(tx, count_energy => payload ? 'meterValue' OR kind = 'Ended');

    -- What it costs, by its tariff (sql/functions/tariffs.sql): totalCost answers the Ended event (2.1:
    -- every Updated too, the running cost); kept with the event, so that a resend gets it again.
    cost := ocpp._transaction_event_cost(tx.id, kind, ocpp_version);
    IF cost <> '{}' THEN
        answer := answer || cost;
        UPDATE pgcsms.transaction_events AS e SET response = answer
         WHERE (e.charge_point_id, e.remote_id, e.seq_no, e.event_no)
             = (v201_transaction_event.charge_point_id, tx_ref, seq, this_event_no);
    END IF;

    -- Its consequences, once each.
    IF reservation IS NOT NULL THEN
        PERFORM ocpp._use_reservation(charge_point_id, reservation, tx.id, unique_id);
    END IF;
    IF created AND kind = 'Ended' THEN
        INSERT INTO pgcsms.anomalies (charge_point_id, kind, unique_id, transaction_id, detail)
        VALUES (charge_point_id, 'unknown_transaction_stop', unique_id, tx.id,
                jsonb_build_object('reason', 'the Ended event of a transaction never heard of: recorded from it',
                                   'transaction_id', tx_ref, 'seq_no', seq));
    ELSIF kind = 'Ended' AND was.stop_unique_id IS NOT NULL THEN
        INSERT INTO pgcsms.anomalies (charge_point_id, kind, unique_id, transaction_id, detail)
        VALUES (charge_point_id, 'duplicate_stop', unique_id, tx.id,
                jsonb_build_object('transaction_id', tx_ref, 'seq_no', seq, 'first_unique_id', was.stop_unique_id));
    END IF;
    IF NOT queued_offline THEN
        PERFORM ocpp._check_clock(charge_point_id, unique_id, happened_at);
    END IF;

    -- The events of 1.6, in the same words (plus evse_id, remote_id, ocpp_version).
    IF created THEN
        PERFORM pg_notify('ocpp_event', jsonb_build_object(
            'event', 'transaction_started', 'charge_point_id', charge_point_id, 'transaction_id', tx.id,
            'connector_id', tx.connector_id, 'id_tag', tx.id_tag, 'authorization_status', tx.authorization_status,
            'evse_id', tx.evse_id, 'remote_id', tx.remote_id, 'ocpp_version', ocpp_version)::text);
    END IF;
    IF was.stop_unique_id IS NULL AND tx.stop_unique_id IS NOT NULL THEN
        PERFORM pg_notify('ocpp_event', jsonb_build_object(
            'event', 'transaction_stopped', 'charge_point_id', charge_point_id, 'transaction_id', tx.id,
            'connector_id', tx.connector_id, 'energy_wh', tx.energy_wh, 'reason', tx.stop_reason,
            'evse_id', tx.evse_id, 'remote_id', tx.remote_id, 'ocpp_version', ocpp_version)::text);
    END IF;
    RETURN answer;
END
$$;
COMMENT ON FUNCTION ocpp.v201_transaction_event(text, text, jsonb, text) IS
    'OCPP 2.0.1 TransactionEvent (and 2.1''s, ocpp_version recorded on the transaction): keeps the event (ocpp.transaction_events) and its meter values, makes or updates the transaction of (station, transactionId) from all of its events in seqNo order (ocpp._v201_derive_transaction), uses its reservation, links its RequestStartTransaction (remoteStartId, ocpp._remote_start_command_v201) before judging its token, supersedes an older transaction left open on the EVSE, and answers idTokenInfo when it carries an idToken (ocpp._authorize_token; ConcurrentTx only with the v201_concurrent_tx setting on) and totalCost from the session''s tariff when it ended (2.1: also the running cost in every Updated; ocpp._transaction_event_cost). A resend (the same event again) changes nothing and gets the same answer; a different event under a seqNo already used is applied after the ones of that seqNo that came before it and flagged (transaction_event_conflict); an Ended for a transaction never seen makes it and is flagged; nothing is refused.';

-- A TransactionEvent as a row of pgcsms.transaction_events, for any number
-- of them at once (element i of each array is one): the fields of the
-- payload, the transaction it belongs to, its place among events of its seqNo
-- (event_no), what we answered its token and the answer.
CREATE OR REPLACE FUNCTION ocpp._keep_transaction_events(
    charge_point_ids text[], unique_ids text[], payloads jsonb[], transaction_ids bigint[], event_nos integer[],
    authorization_statuses text[], group_id_tokens text[], responses jsonb[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO pgcsms.transaction_events
        (charge_point_id, remote_id, seq_no, event_no, transaction_id, event_type, trigger_reason, charger_at, offline,
         evse_id, connector_id, charging_state, time_spent_charging, stopped_reason, remote_start_id,
         reservation_id, number_of_phases_used, cable_max_current, id_token, id_token_type,
         authorization_status, group_id_token, unique_id, payload, response)
    SELECT e.charge_point_id, e.info->>'transactionId', (e.payload->>'seqNo')::bigint, e.event_no, e.transaction_id,
           e.payload->>'eventType', e.payload->>'triggerReason', ocpp._ts(e.payload->>'timestamp'),
           coalesce((e.payload->>'offline')::boolean, false),
           (e.payload->'evse'->>'id')::integer, (e.payload->'evse'->>'connectorId')::integer,
           e.info->>'chargingState', (e.info->>'timeSpentCharging')::bigint,
           CASE WHEN e.payload->>'eventType' = 'Ended' THEN coalesce(e.info->>'stoppedReason', 'Local')
                ELSE e.info->>'stoppedReason' END,
           (e.info->>'remoteStartId')::bigint, (e.payload->>'reservationId')::bigint,
           (e.payload->>'numberOfPhasesUsed')::integer, (e.payload->>'cableMaxCurrent')::integer,
           e.payload->'idToken'->>'idToken', e.payload->'idToken'->>'type',
           e.authorization_status, e.group_id_token, e.unique_id, e.payload, e.response
      FROM (SELECT u.*, u.payload->'transactionInfo' AS info
              FROM unnest(charge_point_ids, unique_ids, payloads, transaction_ids, event_nos, authorization_statuses,
                          group_id_tokens, responses) WITH ORDINALITY
                   AS u(charge_point_id, unique_id, payload, transaction_id, event_no, authorization_status,
                        group_id_token, response, n)) AS e
     ORDER BY e.n;
END
$$;
COMMENT ON FUNCTION ocpp._keep_transaction_events(text[], text[], jsonb[], bigint[], integer[], text[], text[], jsonb[]) IS
    'Keeps TransactionEvent messages (element i of each array is one) in pgcsms.transaction_events: their fields, transaction, event_no, the authorization answered for their token and the answer.';

-- The common case, for any number of events at once (the group commit's
-- batch, or the one a handler has): the next Updated of a session, saying
-- nothing the derivation weighs beyond the newest state and new readings (no
-- token, no end, no other EVSE, no reservation, no remote start, no reading
-- older than the session's last). Its fields, and the rises of its readings
-- after the last one (ocpp._energy_registers_from), go onto the row: what
-- deriving it from every event and reading gives (ocpp._v201_derive_transaction),
-- without reading them all (tests/sql/v201/test_transaction_event_in_order.py).
-- Returns the answer of each event applied, NULL for the others (the general
-- handler's), which it leaves untouched.
CREATE OR REPLACE FUNCTION ocpp._v201_events_in_order(
    charge_point_ids text[], unique_ids text[], payloads jsonb[], ocpp_versions text[])
RETURNS jsonb[]
LANGUAGE plpgsql
AS $$
DECLARE
    ns integer[];
    transaction_ids bigint[];
    evse_ids integer[];
    connector_ids integer[];
    from_ats timestamptz[];
    from_ids bigint[];
    added_transactions bigint[];
    added_whs numeric[];
    added_last_ats timestamptz[];
    added_last_ids bigint[];
    answers jsonb[];
BEGIN
    IF NOT EXISTS (SELECT FROM unnest(payloads) AS p WHERE p->>'eventType' = 'Updated') THEN
        RETURN NULL;
    END IF;
    -- The events that qualify, their transactions locked (in one order); the
    -- readings of one must all be later than the last the session counted.
    -- With each, what the steps below need of its transaction: where its
    -- readings belong, and (for readings) the last one it counted.
    SELECT array_agg(q.n ORDER BY q.n), array_agg(q.transaction_id ORDER BY q.n), array_agg(q.evse_id ORDER BY q.n),
           array_agg(q.connector_id ORDER BY q.n),
           array_agg(CASE WHEN q.payload ? 'meterValue' THEN q.last_reading_at END ORDER BY q.n),
           array_agg(q.last_reading_id ORDER BY q.n)
      INTO ns, transaction_ids, evse_ids, connector_ids, from_ats, from_ids
      FROM (SELECT l.*, count(*) OVER (PARTITION BY l.transaction_id) AS of_transaction
              FROM (SELECT m.n, m.payload, t.id AS transaction_id, t.evse_id, t.connector_id, t.energy_used_wh,
                           t.last_reading_at, t.last_reading_id
                      FROM unnest(charge_point_ids, payloads) WITH ORDINALITY AS m(charge_point_id, payload, n)
                      JOIN pgcsms.transactions AS t
                        ON t.charge_point_id = m.charge_point_id
                       AND t.remote_id = m.payload->'transactionInfo'->>'transactionId'
                     WHERE m.payload->>'eventType' = 'Updated'
                       AND NOT m.payload ? 'idToken' AND NOT m.payload ? 'reservationId'
                       AND NOT m.payload->'transactionInfo' ? 'remoteStartId'
                       AND (m.payload->>'seqNo')::bigint = t.last_seq_no + 1
                       AND t.stop_unique_id IS NULL AND t.stopped_at IS NULL AND t.evse_id IS NOT NULL
                       AND coalesce((m.payload->'evse'->>'id')::integer = t.evse_id, true)
                       AND coalesce((m.payload->'evse'->>'connectorId')::integer = t.connector_id, true)
                       AND ocpp._ts(m.payload->>'timestamp') >= t.started_at
                     ORDER BY t.id
                       FOR UPDATE OF t) AS l) AS q
     WHERE q.of_transaction = 1
       AND (NOT q.payload ? 'meterValue'
            OR q.energy_used_wh IS NOT NULL
               AND q.last_reading_at <= (SELECT min(ocpp._ts(mv->>'timestamp'))
                                           FROM jsonb_array_elements(q.payload->'meterValue') AS mv)
            -- No reading counted yet (a station that sends none, or not yet):
            -- if this event brings the first, the session is derived below.
            OR q.energy_used_wh IS NULL AND q.last_reading_at IS NULL);
    IF ns IS NULL THEN
        RETURN NULL;
    END IF;

    PERFORM ocpp._keep_transaction_events(
        array_agg(charge_point_ids[a.n] ORDER BY a.i), array_agg(unique_ids[a.n] ORDER BY a.i),
        array_agg(payloads[a.n] ORDER BY a.i), array_agg(transaction_ids[a.i] ORDER BY a.i),
        array_agg(0 ORDER BY a.i), array_agg(NULL::text ORDER BY a.i), array_agg(NULL::text ORDER BY a.i),
        array_agg('{}'::jsonb ORDER BY a.i))
      FROM unnest(ns) WITH ORDINALITY AS a(n, i);
    IF EXISTS (SELECT FROM unnest(ns) AS a(n) WHERE payloads[a.n] ? 'meterValue') THEN
        PERFORM ocpp._store_meter_value_sets(
            array_agg(charge_point_ids[a.n] ORDER BY a.i),
            array_agg(coalesce((payloads[a.n]->'evse'->>'id')::integer, evse_ids[a.i]) ORDER BY a.i),
            array_agg(coalesce((payloads[a.n]->'evse'->>'connectorId')::integer, connector_ids[a.i]) ORDER BY a.i),
            array_agg(transaction_ids[a.i] ORDER BY a.i), array_agg(true ORDER BY a.i),
            array_agg(payloads[a.n]->'meterValue' ORDER BY a.i), array_agg('TransactionEvent'::text ORDER BY a.i),
            array_agg(ocpp_versions[a.n] ORDER BY a.i))
          FROM unnest(ns) WITH ORDINALITY AS a(n, i)
         WHERE payloads[a.n] ? 'meterValue';
    END IF;

    -- The rises after each session's last counted reading, and its new last
    -- one (none for an event without readings: from_ats is NULL for it).
    SELECT array_agg(g.transaction_id), array_agg(g.wh), array_agg(g.last_at), array_agg(g.last_id)
      INTO added_transactions, added_whs, added_last_ats, added_last_ids
      FROM (SELECT r.transaction_id, max(r.used) AS wh,
                   (array_agg(r.sampled_at ORDER BY r.sampled_at DESC, r.reading_id DESC))[1] AS last_at,
                   (array_agg(r.reading_id ORDER BY r.sampled_at DESC, r.reading_id DESC))[1] AS last_id
              FROM ocpp._energy_registers_from(transaction_ids, from_ats, from_ids) AS r
             GROUP BY r.transaction_id) AS g;
    UPDATE pgcsms.transactions AS t
       SET charging_state = coalesce(e.info->>'chargingState', t.charging_state),
           time_spent_charging = coalesce((e.info->>'timeSpentCharging')::bigint, t.time_spent_charging),
           offline = t.offline OR coalesce((e.payload->>'offline')::boolean, false),
           last_seq_no = (e.payload->>'seqNo')::bigint,
           energy_used_wh = coalesce(t.energy_used_wh + added.wh, t.energy_used_wh),
           energy_wh = coalesce(round(t.energy_used_wh + added.wh)::bigint, t.energy_wh),
           last_reading_at = coalesce(added.last_at, t.last_reading_at),
           last_reading_id = coalesce(added.last_id, t.last_reading_id)
      FROM (SELECT transaction_ids[a.i] AS transaction_id, payloads[a.n] AS payload,
                   payloads[a.n]->'transactionInfo' AS info
              FROM unnest(ns) WITH ORDINALITY AS a(n, i)) AS e
      LEFT JOIN unnest(added_transactions, added_whs, added_last_ats, added_last_ids)
                AS added(transaction_id, wh, last_at, last_id) ON added.transaction_id = e.transaction_id
     WHERE t.id = e.transaction_id;

    -- Sessions whose first counted readings came now: derived from all of
    -- their events and readings, once (those without any stay as updated).
    PERFORM ocpp._v201_derive_transaction(t, count_energy => true)
       FROM unnest(ns) WITH ORDINALITY AS a(n, i)
       JOIN pgcsms.transactions AS t ON t.id = transaction_ids[a.i]
      WHERE payloads[a.n] ? 'meterValue' AND t.energy_used_wh IS NULL
        AND EXISTS (SELECT FROM ocpp._energy_readings(t.id));

    -- What it costs, by its tariff: kept with the event, so that a resend
    -- gets it again (no tariff, as for most: {}).
    SELECT array_agg(CASE WHEN c.i IS NULL THEN NULL ELSE c.cost END ORDER BY s.n)
      INTO answers
      FROM generate_subscripts(charge_point_ids, 1) AS s(n)
      LEFT JOIN (SELECT a.n, a.i, ocpp._transaction_event_cost(transaction_ids[a.i], 'Updated', ocpp_versions[a.n]) AS cost
                   FROM unnest(ns) WITH ORDINALITY AS a(n, i)) AS c ON c.n = s.n;
    UPDATE pgcsms.transaction_events AS e SET response = answers[a.n]
      FROM unnest(ns) AS a(n)
     WHERE answers[a.n] <> '{}'
       AND (e.charge_point_id, e.remote_id, e.seq_no, e.event_no)
         = (charge_point_ids[a.n], payloads[a.n]->'transactionInfo'->>'transactionId',
            (payloads[a.n]->>'seqNo')::bigint, 0);

    PERFORM ocpp._check_clocks(array_agg(charge_point_ids[a.n] ORDER BY a.n), array_agg(unique_ids[a.n] ORDER BY a.n),
                               array_agg(ocpp._ts(payloads[a.n]->>'timestamp') ORDER BY a.n))
      FROM unnest(ns) AS a(n)
     WHERE NOT coalesce((payloads[a.n]->>'offline')::boolean, false);
    RETURN answers;
END
$$;
COMMENT ON FUNCTION ocpp._v201_events_in_order(text[], text[], jsonb[], text[]) IS
    'Applies the 2.x TransactionEvents (element i of each array is one) that are the next Updated of their open session and change nothing the derivation weighs beyond the newest state and new, later readings: keeps them, stores their readings, adds their state and energy to the transaction, prices them; returns their answers (NULL for the others, left for ocpp.v201_transaction_event). The same row as ocpp._v201_derive_transaction would make, without reading every event and reading of the session.';

-- A transaction's row from all of its events, in seqNo order (events under
-- one seqNo in the order they came, event_no): the Started
-- event (or else the earliest) starts it, the first Ended one ends it
-- (stoppedReason Local when left out), the first token presented otherwise
-- than to stop is who started it and the last one presented to stop who
-- stopped it, the newest chargingState is its state. What the row knew
-- without its events (a superseded end) stays until an event says otherwise.
CREATE OR REPLACE FUNCTION ocpp._v201_derive_transaction(tx pgcsms.transactions, count_energy boolean DEFAULT true)
RETURNS pgcsms.transactions
LANGUAGE plpgsql
AS $$
DECLARE
    derived pgcsms.transactions;
BEGIN
    WITH events AS (
        SELECT e.seq_no, e.event_type, e.trigger_reason, e.charger_at, e.received_at, e.unique_id, e.offline,
               e.evse_id, e.connector_id, e.charging_state, e.time_spent_charging, e.stopped_reason,
               e.remote_start_id, e.reservation_id, e.id_token, e.id_token_type, e.authorization_status,
               e.group_id_token, e.trigger_reason = 'StopAuthorized' OR e.event_type = 'Ended' AS stopping,
               row_number() OVER (ORDER BY e.seq_no, e.event_no) AS n
          FROM pgcsms.transaction_events AS e
         WHERE e.charge_point_id = tx.charge_point_id AND e.remote_id = tx.remote_id),
    story AS (
        SELECT (array_agg(e.charger_at ORDER BY e.n) FILTER (WHERE e.event_type = 'Started'))[1] AS started_at,
               min(e.charger_at) AS first_at,
               (array_agg(e.trigger_reason ORDER BY e.n) FILTER (WHERE e.event_type = 'Started'))[1] AS start_trigger,
               (array_agg(e.evse_id ORDER BY e.n) FILTER (WHERE e.evse_id IS NOT NULL))[1] AS evse_id,
               (array_agg(e.connector_id ORDER BY e.n) FILTER (WHERE e.connector_id IS NOT NULL))[1] AS connector_id,
               (array_agg(e.n ORDER BY e.n) FILTER (WHERE e.id_token IS NOT NULL AND NOT e.stopping))[1] AS start_token_n,
               (array_agg(e.n ORDER BY e.n DESC) FILTER (WHERE e.id_token IS NOT NULL AND e.stopping))[1] AS stop_token_n,
               (array_agg(e.n ORDER BY e.n) FILTER (WHERE e.event_type = 'Ended'))[1] AS ended_n,
               (array_agg(e.charging_state ORDER BY e.n DESC) FILTER (WHERE e.charging_state IS NOT NULL))[1] AS charging_state,
               (array_agg(e.time_spent_charging ORDER BY e.n DESC) FILTER (WHERE e.time_spent_charging IS NOT NULL))[1] AS time_spent_charging,
               (array_agg(e.remote_start_id ORDER BY e.n) FILTER (WHERE e.remote_start_id IS NOT NULL))[1] AS remote_start_id,
               (array_agg(e.reservation_id ORDER BY e.n) FILTER (WHERE e.reservation_id IS NOT NULL))[1] AS reservation_id,
               bool_or(e.offline) AS offline,
               max(e.seq_no) AS last_seq_no
          FROM events AS e),
    energy AS (SELECT * FROM ocpp._v201_transaction_energy(tx.charge_point_id, tx.id) WHERE count_energy)
    UPDATE pgcsms.transactions AS t
       SET started_at = coalesce(s.started_at, s.first_at, t.started_at),
           start_trigger_reason = s.start_trigger,
           evse_id = coalesce(s.evse_id, t.evse_id),
           connector_id = coalesce(s.connector_id, t.connector_id),
           id_tag = st.id_token, id_token_type = st.id_token_type,
           authorization_status = st.authorization_status, parent_id_tag = st.group_id_token,
           stop_id_tag = sp.id_token, stop_id_token_type = sp.id_token_type,
           stop_authorization_status = sp.authorization_status,
           stopped_at = coalesce(en.charger_at, t.stopped_at),
           stop_received_at = coalesce(en.received_at, t.stop_received_at),
           stop_unique_id = en.unique_id,
           stop_reason = en.stopped_reason,
           stop_trigger_reason = en.trigger_reason,
           charging_state = s.charging_state,
           time_spent_charging = s.time_spent_charging,
           remote_start_id = s.remote_start_id,
           reservation_id = CASE WHEN s.reservation_id BETWEEN 0 AND 2147483647 THEN s.reservation_id END,
           offline = s.offline,
           last_seq_no = s.last_seq_no,
           meter_start = CASE WHEN count_energy THEN g.meter_start ELSE t.meter_start END,
           meter_stop = CASE WHEN NOT count_energy THEN t.meter_stop WHEN en.n IS NOT NULL THEN g.meter_stop END,
           energy_wh = CASE WHEN count_energy THEN g.energy_wh ELSE t.energy_wh END,
           energy_used_wh = CASE WHEN count_energy THEN g.energy_used_wh ELSE t.energy_used_wh END,
           last_reading_at = CASE WHEN count_energy THEN g.last_reading_at ELSE t.last_reading_at END,
           last_reading_id = CASE WHEN count_energy THEN g.last_reading_id ELSE t.last_reading_id END
      FROM story AS s
      LEFT JOIN energy AS g ON true
      LEFT JOIN events AS st ON st.n = s.start_token_n
      LEFT JOIN events AS sp ON sp.n = s.stop_token_n
      LEFT JOIN events AS en ON en.n = s.ended_n
     WHERE t.id = tx.id
    RETURNING t.* INTO derived;
    -- Values that came before the EVSE was known belong to it too.
    IF tx.evse_id IS NULL AND derived.evse_id IS NOT NULL THEN
        UPDATE pgcsms.meter_values AS v SET evse_id = derived.evse_id, connector_id = coalesce(v.connector_id, derived.connector_id)
         WHERE v.transaction_id = tx.id AND v.charge_point_id = tx.charge_point_id AND v.evse_id IS NULL;
    END IF;
    RETURN derived;
END
$$;
COMMENT ON FUNCTION ocpp._v201_derive_transaction(pgcsms.transactions, boolean) IS
    'Derives a 2.0.1 transaction''s row from all of its events in seqNo order, then event_no (start and its trigger, end, stoppedReason, tokens, EVSE, chargingState, remoteStartId, reservation) and, when count_energy (new readings, or the end), its energy (ocpp._v201_transaction_energy); returns the row.';

-- The energy a 2.x session took, reading by reading, from its
-- Energy.Active.Import.Register readings at the outlet, all phases together,
-- in time order: the sum of the rises between consecutive readings. A rise
-- that would mean more power than energy_step_max_kw is no energy the EV took
-- (a register read as 0 at Transaction.Begin, by a station just back from an
-- offline period, and then the lifetime register); a fall (a meter replaced
-- or reset) counts nothing. The rule lives in ocpp._energy_registers_from;
-- this is a whole session, which the session's energy_wh
-- (ocpp._v201_transaction_energy) and its cost (sql/functions/tariffs.sql)
-- read. charge_point_id names the session's charger for the reader: its
-- readings are known by the transaction alone (ocpp._energy_readings).
CREATE OR REPLACE FUNCTION ocpp._energy_register(charge_point_id text, transaction_id bigint)
RETURNS TABLE (sampled_at timestamptz, reading_id bigint, wh numeric, used numeric)
LANGUAGE sql STABLE
AS $$
    SELECT r.sampled_at, r.reading_id, r.wh, r.used
      FROM ocpp._energy_registers_from(ARRAY[transaction_id], ARRAY['-infinity'::timestamptz], ARRAY[0::bigint]) AS r
$$;
COMMENT ON FUNCTION ocpp._energy_register(text, bigint) IS
    'The Energy.Active.Import.Register readings of a transaction (outlet, all phases) in time order, each with wh (the reading) and used (the energy taken up to it: the sum of the rises, leaving out a fall and a rise that means more average power than the energy_step_max_kw setting, 1000 kW: a register of 0 then the lifetime register). Used by energy_wh and by the cost.';

-- The readings that count, in the order they count: time, then arrival.
-- Those of the transaction's own charger: a reading is transaction_known only
-- when its charger's transaction has that id (so no charge_point_id test,
-- which led PostgreSQL to read all of a charger's readings by its key).
CREATE OR REPLACE FUNCTION ocpp._energy_readings(transaction_id bigint)
RETURNS TABLE (sampled_at timestamptz, reading_id bigint, wh numeric)
LANGUAGE sql STABLE
AS $$
    SELECT v.sampled_at, v.id, v.normalized_value::numeric
      FROM pgcsms.meter_values AS v
     WHERE v.transaction_id = _energy_readings.transaction_id AND v.transaction_known
       AND v.measurand = 'Energy.Active.Import.Register' AND v.phase IS NULL AND v.location = 'Outlet'
       AND v.normalized_value IS NOT NULL
$$;
COMMENT ON FUNCTION ocpp._energy_readings(bigint) IS
    'The readings a 2.x session''s energy is counted from: Energy.Active.Import.Register at the outlet, all phases together, normalised to Wh, sent by the session''s charger (transaction_known); in the order they count, (sampled_at, reading_id).';

-- The rule itself, for many sessions at once, each from one of its readings
-- on: the energy of the readings after (from_at, from_id), each rise
-- measured from the one before (the reading at (from_at, from_id) itself adds
-- nothing). From the start, a whole session; from its last counted reading,
-- what new readings add (the group commit's batch of TransactionEvents).
CREATE OR REPLACE FUNCTION ocpp._energy_registers_from(
    transaction_ids bigint[], from_ats timestamptz[], from_ids bigint[])
RETURNS TABLE (transaction_id bigint, sampled_at timestamptz, reading_id bigint, wh numeric, used numeric)
-- PL/pgSQL, so that its plan is made once per connection: a SQL function with
-- SET clauses is never inlined and was planned again on every call, two
-- thirds of its cost in a group commit of TransactionEvents.
LANGUAGE plpgsql STABLE
-- Each session's readings by the (transaction_id, sampled_at) index, from
-- where it counts. PostgreSQL cannot know how many sessions the arrays hold
-- and, planning when the readings were few (a new installation), would hash
-- all of them instead, and keep doing so as they grow.
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
BEGIN
    RETURN QUERY
    WITH readings AS (
        SELECT s.transaction_id, r.sampled_at, r.reading_id, r.wh,
               r.wh - lag(r.wh) OVER w AS rise,
               extract(epoch FROM r.sampled_at - lag(r.sampled_at) OVER w) AS seconds
          FROM unnest(transaction_ids, from_ats, from_ids) AS s(transaction_id, from_at, from_id)
         -- For each session in turn, whatever the plan's age (OFFSET 0 keeps
         -- PostgreSQL from turning the join around: planned on an empty
         -- table, it would walk every reading for every batch).
         CROSS JOIN LATERAL (
                SELECT e.* FROM ocpp._energy_readings(s.transaction_id) AS e
                 WHERE e.sampled_at >= s.from_at AND (e.sampled_at, e.reading_id) >= (s.from_at, s.from_id)
                OFFSET 0) AS r
        WINDOW w AS (PARTITION BY s.transaction_id ORDER BY r.sampled_at, r.reading_id)),
    -- Once, not for every reading.
    limit_kw AS MATERIALIZED (
        SELECT CASE WHEN value ~ '^\d{1,9}(\.\d{1,6})?$' THEN value::numeric ELSE 1000 END AS kw
          FROM (SELECT ocpp._setting('energy_step_max_kw') AS value) AS s)
    -- kW * s / 3.6 = Wh
    SELECT r.transaction_id, r.sampled_at, r.reading_id, r.wh,
           sum(CASE WHEN r.rise > 0 AND r.rise <= l.kw * r.seconds / 3.6 THEN r.rise ELSE 0 END)
               OVER (PARTITION BY r.transaction_id ORDER BY r.sampled_at, r.reading_id)
      FROM readings AS r CROSS JOIN limit_kw AS l;
END
$$;
COMMENT ON FUNCTION ocpp._energy_registers_from(bigint[], timestamptz[], bigint[]) IS
    'The one home of the energy rule of 2.x sessions: for each session transaction_ids[i] its readings from (from_ats[i], from_ids[i]) on, in order, used counting the rises after that reading, leaving out a fall and a rise that means more average power than energy_step_max_kw. ocpp._energy_register is one session from its start.';

CREATE OR REPLACE FUNCTION ocpp._v201_transaction_energy(
    charge_point_id text, transaction_id bigint, OUT meter_start bigint, OUT meter_stop bigint, OUT energy_wh bigint,
    OUT energy_used_wh numeric, OUT last_reading_at timestamptz, OUT last_reading_id bigint)
LANGUAGE sql STABLE
AS $$
    SELECT round((array_agg(e.wh ORDER BY e.sampled_at, e.reading_id))[1])::bigint,
           round((array_agg(e.wh ORDER BY e.sampled_at DESC, e.reading_id DESC))[1])::bigint,
           round(max(e.used))::bigint, max(e.used),
           (array_agg(e.sampled_at ORDER BY e.sampled_at DESC, e.reading_id DESC))[1],
           (array_agg(e.reading_id ORDER BY e.sampled_at DESC, e.reading_id DESC))[1]
      FROM ocpp._energy_register(charge_point_id, transaction_id) AS e
     HAVING count(*) > 0
$$;
COMMENT ON FUNCTION ocpp._v201_transaction_energy(text, bigint) IS
    'Energy (Wh) of a 2.0.1 transaction from its Energy.Active.Import.Register readings (outlet, all phases): first and last reading, and the sum of the rises (energy_wh rounded, energy_used_wh exact) between consecutive ones, leaving out a rise that means more average power than the energy_step_max_kw setting (1000 kW: a register of 0 then the lifetime register) and counting a fall as nothing. No row without readings.';
