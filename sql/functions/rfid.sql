-- RFID readers on serial ports: `pgcsms rfid` (hardware/rfid.py) frames the
-- tags a reader sends and calls ocpp.record_scan once per card presented;
-- what the scan means is decided here, by the reader's mode.

CREATE OR REPLACE FUNCTION ocpp.add_rfid_reader(
    reader_id text,
    mode text DEFAULT 'log',
    charge_point_id text DEFAULT NULL,
    connector_id integer DEFAULT NULL,
    description text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF reader_id IS NULL OR reader_id = '' OR length(reader_id) > 128 OR reader_id ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'a reader id is 1 to 128 characters without control characters, not %', quote_nullable(reader_id)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF mode IS NULL OR mode NOT IN ('log', 'enroll', 'authorize') THEN
        RAISE EXCEPTION 'mode must be log, enroll or authorize, not %', quote_nullable(mode)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF connector_id IS NOT NULL AND (connector_id < 1 OR charge_point_id IS NULL) THEN
        RAISE EXCEPTION 'connector_id is a connector (1 or more) of charge_point_id, not %', connector_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF mode = 'authorize' AND charge_point_id IS NULL THEN
        RAISE EXCEPTION 'an authorize reader starts charges on a charge point: charge_point_id is missing'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF charge_point_id IS NOT NULL
       AND NOT EXISTS (SELECT FROM pgcsms.charge_points AS cp WHERE cp.id = add_rfid_reader.charge_point_id) THEN
        RAISE EXCEPTION 'unknown charge point %', quote_nullable(charge_point_id)
            USING ERRCODE = 'no_data_found', HINT = 'register it first: SELECT ocpp.add_charge_point(id)';
    END IF;
    INSERT INTO pgcsms.rfid_readers AS r (reader_id, mode, charge_point_id, connector_id, description)
    VALUES (add_rfid_reader.reader_id, add_rfid_reader.mode, add_rfid_reader.charge_point_id,
            add_rfid_reader.connector_id, add_rfid_reader.description)
    ON CONFLICT ON CONSTRAINT rfid_readers_pkey DO UPDATE
       SET mode = excluded.mode, charge_point_id = excluded.charge_point_id,
           connector_id = excluded.connector_id, description = coalesce(excluded.description, r.description),
           updated_at = now();
END
$$;
COMMENT ON FUNCTION ocpp.add_rfid_reader(text, text, text, integer, text) IS
    'Adds an RFID reader (the --reader-id of pgcsms rfid) or changes it. mode log: scans are stored only; enroll: a desk reader that adds unknown cards to ocpp.id_tags as Accepted; authorize: a kiosk beside charge_point_id (required) that queues RemoteStartTransaction on connector_id (NULL: the charger chooses) for an accepted card. See ocpp.rfid_scans for the outcomes.';
REVOKE ALL ON FUNCTION ocpp.add_rfid_reader(text, text, text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.add_rfid_reader(text, text, text, integer, text) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.record_scan(reader_id text, id_tag text, scanned_at timestamptz DEFAULT now())
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reader pgcsms.rfid_readers;
    outcome text;
    command_id bigint;
    scan_id bigint;
    info jsonb;
    max_age text;
    valid_until timestamptz;
BEGIN
    IF reader_id IS NULL OR reader_id = '' OR length(reader_id) > 128 OR reader_id ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'a reader id is 1 to 128 characters without control characters, not %', quote_nullable(reader_id)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF id_tag IS NULL OR id_tag = '' OR length(id_tag) > 20 OR id_tag ~ '[[:cntrl:]]' THEN
        RAISE EXCEPTION 'an id tag is 1 to 20 characters (OCPP 1.6 IdToken), not %', quote_nullable(id_tag)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    scanned_at := coalesce(scanned_at, now());

    -- A retry of a scan already recorded (its answer was lost on the way):
    -- the same answer, nothing done twice.
    SELECT s.outcome INTO outcome
      FROM pgcsms.rfid_scans AS s
     WHERE s.reader_id = record_scan.reader_id AND s.id_tag = record_scan.id_tag
       AND s.scanned_at = record_scan.scanned_at;
    IF FOUND THEN
        RETURN outcome;
    END IF;

    INSERT INTO pgcsms.rfid_readers (reader_id) VALUES (record_scan.reader_id)
    ON CONFLICT ON CONSTRAINT rfid_readers_pkey DO NOTHING;
    SELECT * INTO STRICT reader FROM pgcsms.rfid_readers AS r WHERE r.reader_id = record_scan.reader_id;

    CASE reader.mode
        WHEN 'log' THEN
            outcome := 'logged';
        WHEN 'enroll' THEN
            -- An existing card keeps its status (a blocked card stays blocked).
            INSERT INTO pgcsms.id_tags (id_tag, status, description)
            VALUES (record_scan.id_tag, 'Accepted', 'enrolled at RFID reader ' || reader.reader_id)
            ON CONFLICT DO NOTHING;
            outcome := CASE WHEN FOUND THEN 'enrolled' ELSE 'known' END;
        WHEN 'authorize' THEN
            info := ocpp._id_tag_info(record_scan.id_tag);
            max_age := ocpp._setting('rfid_scan_max_age');
            IF max_age ~ '^\d{1,9}$' AND max_age::integer > 0 THEN
                valid_until := record_scan.scanned_at + make_interval(secs => max_age::integer);
            END IF;
            IF info->>'status' <> 'Accepted' THEN
                outcome := lower(info->>'status');
            ELSIF valid_until <= now() THEN
                outcome := 'stale';
            ELSIF reader.charge_point_id IS NULL THEN
                outcome := 'no_charge_point';
            ELSE
                IF ocpp._charge_point_version(reader.charge_point_id) = '1.6' THEN
                    command_id := ocpp.remote_start_transaction(
                        reader.charge_point_id, record_scan.id_tag, reader.connector_id, expires_at => valid_until);
                ELSE
                    -- The card's type as every helper sends it; the reader's connector is the station's EVSE.
                    command_id := ocpp.request_start_transaction(
                        reader.charge_point_id, record_scan.id_tag,
                        id_token_type => ocpp._id_token_type_for(record_scan.id_tag),
                        evse_id => reader.connector_id, expires_at => valid_until);
                END IF;
                outcome := 'remote_start_queued';
            END IF;
    END CASE;

    INSERT INTO pgcsms.rfid_scans (reader_id, id_tag, scanned_at, outcome, command_id)
    VALUES (record_scan.reader_id, record_scan.id_tag, record_scan.scanned_at, outcome, command_id)
    RETURNING id INTO scan_id;
    PERFORM pg_notify('ocpp_event', jsonb_build_object(
        'event', 'rfid_scan', 'reader_id', reader_id, 'id_tag', id_tag, 'outcome', outcome,
        'scan_id', scan_id, 'command_id', command_id)::text);
    RETURN outcome;
END
$$;
COMMENT ON FUNCTION ocpp.record_scan(text, text, timestamptz) IS
    'For pgcsms rfid: a card read by an RFID reader (id_tag as read, scanned_at when read). An unknown reader is added in mode log. Returns the outcome, stored in ocpp.rfid_scans: logged (mode log); enrolled | known (mode enroll); remote_start_queued (RemoteStartTransaction to a 1.6 charger, RequestStartTransaction to a 2.0.1 one), the card''s idTagInfo status in lower case (invalid | blocked | expired | concurrenttx), stale or no_charge_point (mode authorize). Notifies ocpp_event {"event":"rfid_scan",...}. Calling again with the same reader, tag and scanned_at records nothing and returns the first outcome.';
REVOKE ALL ON FUNCTION ocpp.record_scan(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.record_scan(text, text, timestamptz) TO pgcsms_proxy;
