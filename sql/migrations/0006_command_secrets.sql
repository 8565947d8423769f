-- A command may carry a secret (ChangeConfiguration of AuthorizationKey, the
-- charger's Basic auth password). The secret travels in a private column that
-- no view shows and that is cleared once the command is settled; payload, the
-- journal and every view hold it redacted.
ALTER TABLE pgcsms.commands ADD COLUMN secret_payload jsonb;
COMMENT ON COLUMN pgcsms.commands.secret_payload IS
    'The payload as sent, when it holds a secret; NULL once the command is settled. Never exposed.';
