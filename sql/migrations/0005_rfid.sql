-- RFID readers on serial ports (hardware/, `pgcsms rfid`): each reader is a
-- row, each card it read a scan. What a scan means is the reader's mode,
-- decided in ocpp.record_scan (sql/functions/rfid.sql): log, enroll (a desk
-- reader that adds unknown cards), authorize (a kiosk beside a charger that
-- has no reader of its own: a known card starts a remote transaction).

CREATE TABLE pgcsms.rfid_readers (
    reader_id        text PRIMARY KEY CHECK (reader_id <> '' AND length(reader_id) <= 128),
    mode             text NOT NULL DEFAULT 'log' CHECK (mode IN ('log', 'enroll', 'authorize')),
    -- The charger an authorize reader starts; a removed charger leaves the
    -- reader without one (its scans are then answered no_charge_point).
    charge_point_id  text REFERENCES pgcsms.charge_points ON DELETE SET NULL,
    connector_id     integer CHECK (connector_id > 0),
    description      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pgcsms.rfid_scans (
    reader_id    text NOT NULL REFERENCES pgcsms.rfid_readers,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    id_tag       text NOT NULL CHECK (id_tag <> '' AND length(id_tag) <= 20),
    scanned_at   timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    outcome      text NOT NULL,
    command_id   bigint,
    PRIMARY KEY (reader_id, id),
    -- A reader retries a scan whose answer it lost: the same reader, tag and
    -- read time is the same scan (ocpp.record_scan answers it again).
    UNIQUE (reader_id, id_tag, scanned_at)
);
CREATE INDEX rfid_scans_by_tag ON pgcsms.rfid_scans (upper(id_tag));

-- How long a scan at an authorize reader may start a charge: an older scan
-- (one that waited out a database outage in the reader's queue) starts
-- nothing, and the RemoteStartTransaction expires then if undelivered.
INSERT INTO pgcsms.settings (key, value, description) VALUES
    ('rfid_scan_max_age', '60',
     'Seconds a scan at an authorize RFID reader may start a charge (older scans are answered stale; an undelivered RemoteStartTransaction expires then)');

CREATE VIEW ocpp.rfid_readers AS
    SELECT reader_id, mode, charge_point_id, connector_id, description, created_at, updated_at
      FROM pgcsms.rfid_readers;
COMMENT ON VIEW ocpp.rfid_readers IS
    'RFID readers on serial ports (pgcsms rfid). mode log: scans are stored only; enroll: unknown cards are added to ocpp.id_tags as Accepted; authorize: an accepted card queues RemoteStartTransaction on charge_point_id (connector_id, or the charger''s choice when NULL). A reader that scans before it is configured is added in mode log. Configure with ocpp.add_rfid_reader.';

CREATE VIEW ocpp.rfid_scans AS
    SELECT reader_id, id, id_tag, scanned_at, received_at, outcome, command_id
      FROM pgcsms.rfid_scans;
COMMENT ON VIEW ocpp.rfid_scans IS
    'Every card read by an RFID reader (repeats while a card is held count once). scanned_at: when the reader process read it; received_at: when the database recorded it (later when the database was unavailable). outcome: logged (mode log); enrolled | known (mode enroll); remote_start_queued (mode authorize, command_id: the RemoteStartTransaction in ocpp.commands), or the card''s idTagInfo status in lower case: invalid | blocked | expired | concurrenttx; stale (older than the rfid_scan_max_age setting); no_charge_point (an authorize reader without a charger).';

GRANT SELECT ON ocpp.rfid_readers, ocpp.rfid_scans TO pgcsms_reader;
