-- Many CALLs, from many chargers, in one round trip and one commit: the
-- proxy's group commit while all its connections are busy. Every charger gets
-- its answer after the single commit.
--
-- The high-volume messages of chargers in good standing (Heartbeat and
-- StatusNotification of every version, 1.6 MeterValues, 2.x TransactionEvent
-- in order) are applied for the
-- whole batch by a handful of set statements (ocpp._parse_set): the same
-- rule functions the per-message handlers call with a batch of one, so each
-- rule is written once. Everything else, and the whole batch when a set
-- statement fails, goes one message at a time through ocpp.parse, each in its
-- own subtransaction, so one bad message cannot undo another.
CREATE OR REPLACE FUNCTION ocpp.parse_many(
    charge_point_ids text[],
    unique_ids text[],
    actions text[],
    payloads jsonb[],
    ocpp_versions text[],
    node_id text DEFAULT NULL)
RETURNS TABLE (result jsonb, error_code text, error_description text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Every statement of every handler planned once per connection: PostgreSQL
-- would plan those with array or jsonb parameters again on every call,
-- judging each custom plan cheaper than the generic one (bench/README.md).
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    answers jsonb[];
BEGIN
    IF cardinality(charge_point_ids) IS DISTINCT FROM cardinality(unique_ids)
       OR cardinality(charge_point_ids) IS DISTINCT FROM cardinality(actions)
       OR cardinality(charge_point_ids) IS DISTINCT FROM cardinality(payloads)
       OR cardinality(charge_point_ids) IS DISTINCT FROM cardinality(ocpp_versions) THEN
        RAISE EXCEPTION 'parse_many needs arrays of one length' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT FROM unnest(actions, ocpp_versions) AS m(action, ocpp_version)
                WHERE ocpp._has_set_rule(m.action, m.ocpp_version)) THEN
        BEGIN
            answers := ocpp._parse_set(charge_point_ids, unique_ids, actions, payloads, ocpp_versions, node_id);
        EXCEPTION WHEN OTHERS THEN
            -- Undone as a whole (a value no column holds, say): each message
            -- then gets its own answer, its own CALLERROR, one by one.
            answers := NULL;
        END;
    END IF;
    FOR i IN 1 .. coalesce(cardinality(charge_point_ids), 0) LOOP
        IF answers[i] IS NOT NULL THEN
            result := answers[i];
            error_code := NULL;
            error_description := NULL;
            RETURN NEXT;
        ELSE
            RETURN QUERY SELECT p.result, p.error_code, p.error_description
                           FROM ocpp.parse(charge_point_ids[i], unique_ids[i], actions[i], payloads[i],
                                           ocpp_versions[i], node_id) AS p;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION ocpp.parse_many(text[], text[], text[], jsonb[], text[], text) IS
    'ocpp.parse for many CALLs at once (element i of each array is one CALL), answers in the same order, all in one transaction: the proxy''s group commit under load. Heartbeat, StatusNotification, 1.6 MeterValues and 2.x TransactionEvents in order of Accepted chargers are applied by set statements (ocpp._parse_set), the rest one by one; same answers, rows and events either way.';
REVOKE ALL ON FUNCTION ocpp.parse_many(text[], text[], text[], jsonb[], text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.parse_many(text[], text[], text[], jsonb[], text[], text) TO pgcsms_proxy;

-- The messages the group commit can apply as a set: those whose rule is
-- written for many at once.
CREATE OR REPLACE FUNCTION ocpp._has_set_rule(action text, ocpp_version text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT action IN ('Heartbeat', 'StatusNotification') AND ocpp_version IN ('1.6', '2.0.1', '2.1')
        OR action = 'MeterValues' AND ocpp_version = '1.6'
        OR action = 'TransactionEvent' AND ocpp_version IN ('2.0.1', '2.1')
$$;
COMMENT ON FUNCTION ocpp._has_set_rule(text, text) IS
    'Whether ocpp.parse_many applies this action of this OCPP version by set statements (ocpp._parse_set): Heartbeat and StatusNotification of every version, 1.6 MeterValues, 2.x TransactionEvent (those in order: ocpp._v201_events_in_order).';

-- The set path of the group commit. Takes the messages it can apply as a set
-- (returns their answers; NULL for the others, which ocpp.parse handles):
--   * an action with a set rule: Heartbeat, StatusNotification, 1.6 MeterValues,
--     2.x TransactionEvent that is the next of its session;
--   * from a charger whose messages are Accepted (the same judgement as
--     ocpp._dispatch; anything else needs its per-message refusal or policy);
--   * the charger's only message in the batch (its messages keep their order);
--   * not a possible resend (ocpp.parse answers those from the journal).
-- Then, as ocpp.parse would for each: last_seen_at, the effect, the journal
-- (the CALL and its CALLRESULT).
CREATE OR REPLACE FUNCTION ocpp._parse_set(
    charge_point_ids text[], unique_ids text[], actions text[], payloads jsonb[], ocpp_versions text[],
    node_id text)
RETURNS jsonb[]
LANGUAGE plpgsql
AS $$
DECLARE
    window_seconds integer := coalesce(ocpp._setting('resend_window')::integer, 0);
    taken integer[];
    events integer[];
    event_answers jsonb[];
    answers jsonb[];
BEGIN
    SELECT array_agg(m.n ORDER BY m.n) INTO taken
      FROM (SELECT u.*, count(*) OVER (PARTITION BY u.charge_point_id) AS of_charger
              FROM unnest(charge_point_ids, actions, ocpp_versions) WITH ORDINALITY
                   AS u(charge_point_id, action, ocpp_version, n)) AS m
      JOIN pgcsms.charge_points AS cp ON cp.id = m.charge_point_id
     WHERE m.of_charger = 1 AND ocpp._has_set_rule(m.action, m.ocpp_version)
       AND ocpp._registration_for(m.ocpp_version, cp.registration_status, cp.boot_status, sending => false)
           = 'Accepted';
    IF taken IS NULL THEN
        RETURN NULL;
    END IF;

    IF window_seconds > 0 THEN
        -- The lock ocpp._replayed_answer takes (two copies of one CALL racing
        -- meet here), in one order so that two batches cannot deadlock.
        PERFORM pg_advisory_xact_lock(l.key)
           FROM (SELECT DISTINCT hashtextextended(charge_point_ids[i] || '/' || unique_ids[i], 0) AS key
                   FROM unnest(taken) AS i
                  WHERE NOT ocpp._answered_afresh(actions[i])
                  ORDER BY 1) AS l;
        -- A lookup per message by the journal's (charge_point_id, unique_id)
        -- index; as NOT EXISTS, PostgreSQL may hash the whole journal instead.
        SELECT array_agg(i ORDER BY i) INTO taken
          FROM unnest(taken) AS i
          LEFT JOIN LATERAL (
                SELECT true AS sent FROM pgcsms.journal AS m
                 WHERE m.charge_point_id = charge_point_ids[i] AND m.unique_id = unique_ids[i]
                   AND m.direction = 'in' AND m.message_type = 2 AND m.action = actions[i]
                   AND m.payload = payloads[i] AND m.at > now() - make_interval(secs => window_seconds)
                 LIMIT 1) AS earlier ON true
         WHERE ocpp._answered_afresh(actions[i]) OR earlier.sent IS NULL;
        IF taken IS NULL THEN
            RETURN NULL;
        END IF;
    END IF;

    -- TransactionEvents that are the next of their session (most): the others
    -- are left untouched for ocpp.parse.
    IF EXISTS (SELECT FROM unnest(taken) AS i WHERE actions[i] = 'TransactionEvent') THEN
        SELECT array_agg(i ORDER BY i) INTO events FROM unnest(taken) AS i WHERE actions[i] = 'TransactionEvent';
        event_answers := ocpp._v201_events_in_order(
            ARRAY(SELECT charge_point_ids[i] FROM unnest(events) AS i ORDER BY i),
            ARRAY(SELECT unique_ids[i] FROM unnest(events) AS i ORDER BY i),
            ARRAY(SELECT payloads[i] FROM unnest(events) AS i ORDER BY i),
            ARRAY(SELECT ocpp_versions[i] FROM unnest(events) AS i ORDER BY i));
        SELECT array_agg(t.i ORDER BY t.i) INTO taken
          FROM unnest(taken) AS t(i)
          LEFT JOIN unnest(events, event_answers) AS e(i, answer) ON e.i = t.i
         WHERE actions[t.i] <> 'TransactionEvent' OR e.answer IS NOT NULL;
        IF taken IS NULL THEN
            RETURN NULL;
        END IF;
    END IF;

    PERFORM ocpp._seen(array_agg(charge_point_ids[i])) FROM unnest(taken) AS i;
    IF EXISTS (SELECT FROM unnest(taken) AS i WHERE actions[i] = 'MeterValues') THEN
        PERFORM ocpp._meter_values_16(array_agg(charge_point_ids[i] ORDER BY i), array_agg(payloads[i] ORDER BY i))
           FROM unnest(taken) AS i WHERE actions[i] = 'MeterValues';
    END IF;
    IF EXISTS (SELECT FROM unnest(taken) AS i WHERE actions[i] = 'StatusNotification') THEN
        PERFORM ocpp._status_notifications(
                    array_agg(charge_point_ids[i] ORDER BY i), array_agg(unique_ids[i] ORDER BY i),
                    array_agg(payloads[i] ORDER BY i), array_agg(ocpp_versions[i] ORDER BY i))
           FROM unnest(taken) AS i WHERE actions[i] = 'StatusNotification';
    END IF;

    -- The answers the handlers give: a Heartbeat's from its handler (every
    -- version's is 1.6's), a TransactionEvent's from ocpp._v201_events_in_order,
    -- {} for MeterValues and StatusNotification.
    SELECT array_agg(CASE WHEN t.i IS NULL THEN NULL
                          WHEN actions[a.i] = 'Heartbeat'
                          THEN ocpp.on_heartbeat(charge_point_ids[a.i], unique_ids[a.i], payloads[a.i])
                          WHEN actions[a.i] = 'TransactionEvent' THEN e.answer
                          ELSE '{}'::jsonb END ORDER BY a.i)
      INTO answers
      FROM generate_subscripts(charge_point_ids, 1) AS a(i)
      LEFT JOIN unnest(taken) AS t(i) ON t.i = a.i
      LEFT JOIN unnest(events, event_answers) AS e(i, answer) ON e.i = a.i;

    INSERT INTO pgcsms.journal
        (charge_point_id, direction, message_type, unique_id, action, payload, answer_type, answer, node_id,
         answered_at)
    SELECT charge_point_ids[i], 'in', 2, unique_ids[i], actions[i], payloads[i], 3, answers[i], _parse_set.node_id,
           clock_timestamp()
      FROM unnest(taken) AS i
     ORDER BY i;
    RETURN answers;
END
$$;
COMMENT ON FUNCTION ocpp._parse_set(text[], text[], text[], jsonb[], text[], text) IS
    'The set path of ocpp.parse_many: applies Heartbeat, StatusNotification, 1.6 MeterValues and 2.x TransactionEvents in order (ocpp._v201_events_in_order) of Accepted chargers (each charger''s only message in the batch, not a possible resend) by set statements, journals them, and returns their answers (NULL for the messages ocpp.parse must handle one by one).';
