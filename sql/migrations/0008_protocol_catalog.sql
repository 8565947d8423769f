-- One catalog of protocol actions for every served OCPP version, keyed by
-- (ocpp_version, action, sent_by). Its rows are not written here: `pgcsms
-- migrate` fills it on every run from the `ocpp` package's schema files
-- (proxy/catalog.py), so SQL keeps no list of its own.
CREATE TABLE pgcsms.protocol_actions (
    ocpp_version       text NOT NULL,
    action             text NOT NULL,
    sent_by            text NOT NULL CHECK (sent_by IN ('ChargingStation', 'CSMS')),
    answer_has_status  boolean NOT NULL,
    PRIMARY KEY (ocpp_version, action, sent_by)
);

-- Commands may be for any version: the action is checked against the catalog
-- for the charger's version when queued, and the version the command was sent
-- in is kept (its answer means what that version says).
ALTER TABLE pgcsms.commands DROP CONSTRAINT commands_action_fkey;
ALTER TABLE pgcsms.commands ADD COLUMN ocpp_version text;

-- Helpers (functions with named arguments) per version and action; has_status
-- moved to the catalog (derived from the response schema).
ALTER TABLE pgcsms.command_actions ADD COLUMN ocpp_version text NOT NULL DEFAULT '1.6';
ALTER TABLE pgcsms.command_actions ALTER COLUMN ocpp_version DROP DEFAULT;
ALTER TABLE pgcsms.command_actions DROP CONSTRAINT command_actions_pkey;
ALTER TABLE pgcsms.command_actions ADD PRIMARY KEY (ocpp_version, action);
ALTER TABLE pgcsms.command_actions ALTER COLUMN has_status DROP NOT NULL;
ALTER TABLE pgcsms.command_actions DROP CONSTRAINT command_actions_profile_check;
ALTER TABLE pgcsms.command_actions ALTER COLUMN profile DROP NOT NULL;

DROP VIEW ocpp.command_actions;
CREATE VIEW ocpp.command_actions AS
    SELECT p.ocpp_version, p.action, p.answer_has_status AS has_status, h.profile, h.helper
      FROM pgcsms.protocol_actions AS p
      LEFT JOIN pgcsms.command_actions AS h ON (h.ocpp_version, h.action) = (p.ocpp_version, p.action)
     WHERE p.sent_by = 'CSMS';
COMMENT ON VIEW ocpp.command_actions IS
    'The actions ocpp.send accepts, per OCPP version (from the schema files of the ocpp package). has_status: the answer has a status field, so the command ends accepted or rejected; otherwise completed. profile: for 1.6, core or security (Security Whitepaper). helper: the function with named arguments that builds its payload, where there is one.';
GRANT SELECT ON ocpp.command_actions TO pgcsms_reader;

CREATE VIEW ocpp.protocol_actions AS
    SELECT ocpp_version, action, sent_by, answer_has_status FROM pgcsms.protocol_actions;
COMMENT ON VIEW ocpp.protocol_actions IS
    'Every action of every served OCPP version and who sends it (ChargingStation or CSMS; DataTransfer both), derived from the ocpp package''s schema files by pgcsms migrate.';
GRANT SELECT ON ocpp.protocol_actions TO pgcsms_reader;

-- Replaced by ocpp._command_status(action, response, ocpp_version) (sql/functions/commands.sql).
DROP FUNCTION IF EXISTS ocpp._command_status(text, jsonb);
