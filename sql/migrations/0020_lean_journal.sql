-- The journal keeps one row per exchange: the frame that opened it (a
-- charger's CALL or SEND, or our command's CALL) and, in the same row, the
-- answer to it (CALLRESULT, CALLERROR or CALLRESULTERROR). Every CALL used to
-- cost two rows and six index entries in the group commit, a fifth of its
-- work; one row costs half. ocpp.message_log renders the rows as before, a
-- row a frame, so readers see no change.
--
-- The table is renamed, not copied: rows written before keep their ids and
-- are read as lone frames (no answer), as they always were. An exchange takes
-- two ids, its own and the next (its answer's row in ocpp.message_log).
ALTER TABLE pgcsms.message_log RENAME TO journal;
ALTER TABLE pgcsms.journal RENAME CONSTRAINT message_log_pkey TO journal_pkey;
ALTER TABLE pgcsms.journal RENAME CONSTRAINT message_log_direction_check TO journal_direction_check;
ALTER TABLE pgcsms.journal RENAME CONSTRAINT message_log_message_type_check TO journal_message_type_check;
ALTER INDEX pgcsms.message_log_charge_point_id_unique_id_idx RENAME TO journal_charge_point_id_unique_id_idx;
ALTER INDEX pgcsms.message_log_at_idx RENAME TO journal_at_idx;
ALTER SEQUENCE pgcsms.message_log_id_seq RENAME TO journal_id_seq;
-- The sequence only moves on, so the next id is past every id given so far.
ALTER TABLE pgcsms.journal ALTER COLUMN id SET INCREMENT BY 2;
ALTER TABLE pgcsms.journal
    ADD COLUMN answer_type smallint CHECK (answer_type IN (3, 4, 5)),
    ADD COLUMN answer jsonb,
    ADD COLUMN answered_at timestamptz,
    ADD CONSTRAINT journal_answer_has_a_time CHECK ((answer_type IS NULL) = (answered_at IS NULL));
-- The view's answers are found by their time as the opening frames are. (An
-- index on (charge_point_id, (id + 1)) would cost a third more a row and not
-- serve ORDER BY id: PostgreSQL reads a UNION ALL branch that has a WHERE
-- clause as a subquery, never in an index's order.)
CREATE INDEX ON pgcsms.journal USING brin (answered_at);
COMMENT ON TABLE pgcsms.journal IS
    'The journal, one row per exchange (read it as ocpp.message_log, a row per frame). direction, message_type, payload, raw and at are the opening frame''s (a CALL or SEND in, or our CALL out); answer_type (3 CALLRESULT, 4 CALLERROR, 5 CALLRESULTERROR), answer and answered_at its answer''s, which travels the other way; error_code, error_description and error_detail belong to the answer when there is one, else to the frame. A frame that answers nothing we journaled is a row of its own with no answer. id and id + 1 are the ids of the frame and its answer.';

CREATE OR REPLACE VIEW ocpp.message_log AS
    SELECT j.charge_point_id, j.id, j.direction, j.message_type, j.unique_id, j.action,
           CASE WHEN j.action = 'SignCertificate' AND j.payload ? 'csr'
                     AND NOT pg_catalog.pg_has_role('pgcsms_operator', 'USAGE')
                THEN j.payload || '{"csr": "(readable by pgcsms_operator only)"}'
                ELSE j.payload END AS payload,
           j.raw,
           CASE WHEN j.answer_type IS NULL THEN j.error_code END AS error_code,
           CASE WHEN j.answer_type IS NULL THEN j.error_description END AS error_description,
           CASE WHEN j.answer_type IS NULL THEN j.error_detail END AS error_detail,
           j.node_id, j.at
      FROM pgcsms.journal AS j
    UNION ALL
    SELECT j.charge_point_id, j.id + 1, CASE j.direction WHEN 'in' THEN 'out' ELSE 'in' END, j.answer_type,
           j.unique_id, j.action, j.answer, NULL::text, j.error_code, j.error_description, j.error_detail, j.node_id,
           j.answered_at
      FROM pgcsms.journal AS j
     WHERE j.answer_type IS NOT NULL;
COMMENT ON VIEW ocpp.message_log IS
    'The journal: every OCPP-J frame in and out. direction in | out; message_type 2 CALL, 3 CALLRESULT, 4 CALLERROR, 5 CALLRESULTERROR and 6 SEND (OCPP 2.1), NULL when the frame could not be read or its type is unknown (raw holds it). A SEND is never answered: its row alone, with error_code and error_description when it was refused or its handler failed. A CALLRESULTERROR in says the station could not process our CALLRESULT with that unique_id (or, for a command in flight, fails it); out, that we could not process its CALLRESULT to our command. error_detail is the internal cause of an InternalError (or of a value refused as out of range), never sent to the charger. at orders the frames; an answer''s id is its CALL''s id + 1 (a command''s answer comes later than frames with higher ids). The csr of SignCertificate payloads is shown to pgcsms_operator only.';
