-- OCPP 2.0.1 display messages (O): what each station shows, as far as we know
-- (ocpp.display_messages): set by our SetDisplayMessage, removed by our
-- ClearDisplayMessage or the end of their transaction, reported by the
-- station (NotifyDisplayMessages answering GetDisplayMessages).

CREATE OR REPLACE FUNCTION ocpp._keep_display_message(
    charge_point_id text, message jsonb, source text, request_id integer, command_id bigint)
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO pgcsms.display_messages AS m
        (charge_point_id, message_id, priority, state, start_at, end_at, transaction_remote_id, format, language,
         content, display, message, source, request_id, command_id)
    VALUES (charge_point_id, (message->>'id')::integer, message->>'priority', message->>'state',
            ocpp._ts(message->>'startDateTime'), ocpp._ts(message->>'endDateTime'), message->>'transactionId',
            message#>>'{message,format}', message#>>'{message,language}', message#>>'{message,content}',
            message->'display', message, source, request_id, command_id)
    ON CONFLICT (charge_point_id, message_id) DO UPDATE
       SET priority = excluded.priority, state = excluded.state, start_at = excluded.start_at,
           end_at = excluded.end_at, transaction_remote_id = excluded.transaction_remote_id, format = excluded.format,
           language = excluded.language, content = excluded.content, display = excluded.display,
           message = excluded.message, source = excluded.source, request_id = excluded.request_id,
           command_id = excluded.command_id, updated_at = now();
$$;
COMMENT ON FUNCTION ocpp._keep_display_message(text, jsonb, text, integer, bigint) IS
    'A display message (MessageInfoType) the station has, set by us or reported by it, kept in ocpp.display_messages by its id.';

-- A report of every message (GetDisplayMessages without id, priority or
-- state) is the whole list: what it does not name is gone, unless we set it
-- after asking (a later command).
CREATE OR REPLACE FUNCTION ocpp._forget_unlisted_display_messages(charge_point_id text, command_id bigint)
RETURNS void
LANGUAGE sql
AS $$
    DELETE FROM pgcsms.display_messages AS m
     WHERE m.charge_point_id = _forget_unlisted_display_messages.charge_point_id
       AND EXISTS (SELECT FROM pgcsms.commands AS c
                    WHERE c.charge_point_id = _forget_unlisted_display_messages.charge_point_id
                      AND c.id = _forget_unlisted_display_messages.command_id
                      AND NOT (c.payload ?| ARRAY['id', 'priority', 'state'])
                      AND (m.request_id IS DISTINCT FROM (c.payload->>'requestId')::integer OR m.source = 'set')
                      AND (m.source = 'reported' OR m.command_id < c.id));
$$;
COMMENT ON FUNCTION ocpp._forget_unlisted_display_messages(text, bigint) IS
    'After the last page of a report answering a GetDisplayMessages for every message (or its answer Unknown: none), removes from ocpp.display_messages what the report did not list, except messages set by later commands.';

CREATE OR REPLACE FUNCTION ocpp.v201_notify_display_messages(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    request integer := (payload->>'requestId')::integer;
    command bigint := ocpp._command_of_request(charge_point_id, 'GetDisplayMessages', request);
BEGIN
    PERFORM ocpp._keep_display_message(charge_point_id, m, 'reported', request, command)
       FROM jsonb_array_elements(ocpp._array(payload->'messageInfo')) AS m;
    IF NOT coalesce((payload->>'tbc')::boolean, false) AND command IS NOT NULL THEN
        PERFORM ocpp._forget_unlisted_display_messages(charge_point_id, command);
    END IF;
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v201_notify_display_messages(text, text, jsonb) IS
    'NotifyDisplayMessages: each message reported kept in ocpp.display_messages (source reported, linked to the GetDisplayMessages of its requestId); the last page of a report of every message removes those it did not list.';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_display_message(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    CASE c.action
    WHEN 'SetDisplayMessage' THEN
        IF c.status = 'accepted' THEN
            PERFORM ocpp._keep_display_message(c.charge_point_id, c.payload->'message', 'set', NULL, c.id);
        END IF;
    WHEN 'ClearDisplayMessage' THEN
        -- Unknown: the station has no such message either.
        IF c.response->>'status' IN ('Accepted', 'Unknown') THEN
            DELETE FROM pgcsms.display_messages AS m
             WHERE m.charge_point_id = c.charge_point_id AND m.message_id = (c.payload->>'id')::integer;
        END IF;
    WHEN 'GetDisplayMessages' THEN
        -- Unknown: no message matches, so no report follows.
        IF c.response->>'status' = 'Unknown' THEN
            PERFORM ocpp._forget_unlisted_display_messages(c.charge_point_id, c.id);
        END IF;
    END CASE;
END
$$;
COMMENT ON FUNCTION ocpp._v201_effect_display_message(pgcsms.commands) IS
    'SetDisplayMessage Accepted keeps the message in ocpp.display_messages; ClearDisplayMessage Accepted or Unknown removes it; GetDisplayMessages for every message answered Unknown (the station has none) empties the station''s list.';

-- A message of a transaction is shown during it only (MessageInfoType.transactionId).
CREATE OR REPLACE FUNCTION ocpp._end_transaction_messages()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM pgcsms.display_messages AS m
     WHERE m.charge_point_id = new.charge_point_id AND m.transaction_remote_id = new.remote_id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION ocpp._end_transaction_messages() IS
    'Trigger on pgcsms.transactions when an OCPP 2.0.1 transaction (remote_id) ends: its display messages leave ocpp.display_messages.';
