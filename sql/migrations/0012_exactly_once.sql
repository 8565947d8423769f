-- Exactly-once effects (reliability issue):
-- * a command whose delivery was cut off (its connection or its proxy node
--   lost while it was in flight) ends 'interrupted', not 'timeout': the
--   charger may have applied it, so an integrator checks before resending;
-- * a charger's resend of a CALL we committed is answered from the journal
--   within resend_window seconds and applied once.
ALTER TABLE pgcsms.commands DROP CONSTRAINT commands_status_check;
ALTER TABLE pgcsms.commands ADD CONSTRAINT commands_status_check
    CHECK (status IN ('queued', 'sent', 'accepted', 'rejected', 'completed', 'failed', 'timeout', 'interrupted',
                      'expired', 'cancelled'));

COMMENT ON VIEW ocpp.commands IS
    'Commands to charge points, one row each (queue with ocpp.send or a helper such as ocpp.reset; wait for the answer with CALL ocpp.call). status: queued → sent → accepted | rejected (from the answer''s status field: Accepted, RebootRequired, Scheduled, Unlocked and AcceptedCanceled count as accepted) | completed (answered, the answer has no status field) | failed (CALLERROR: error_code, error_description, response = errorDetails; or the payload failed the OCPP schema and was not sent: response NULL) | timeout (the charger did not answer within the call_timeout setting, connection still up) | interrupted (the connection or the proxy node was lost while the command was in flight: the charger may or may not have applied it) | expired (not delivered before expires_at) | cancelled (ocpp.cancel). response is the charger''s CALLRESULT payload. unique_id is the OCPP-J message id, node_id the proxy that sent it.';

INSERT INTO pgcsms.settings (key, value, description) VALUES
    ('resend_window', '86400',
     'Seconds during which a charger''s resend of a CALL already committed (same uniqueId, action and payload) is answered from the journal and not applied again; 0 switches it off');
