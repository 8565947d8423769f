-- OCPP 2.0.1 fixes after review.

-- Every distinct TransactionEvent is kept and applied, even one under the
-- seqNo of a different event (a station whose counter restarted after a
-- reboot mid-session, or that used a seqNo twice): event_no tells the events
-- of one seqNo apart, 0 for the first, in the order they came. Only the same
-- event again is a resend.
ALTER TABLE pgcsms.transaction_events ADD COLUMN event_no integer NOT NULL DEFAULT 0 CHECK (event_no >= 0);
ALTER TABLE pgcsms.transaction_events
    DROP CONSTRAINT transaction_events_pkey,
    ADD CONSTRAINT transaction_events_pkey PRIMARY KEY (charge_point_id, remote_id, seq_no, event_no);

CREATE OR REPLACE VIEW ocpp.transaction_events AS
    SELECT charge_point_id, remote_id AS transaction_id, seq_no, event_type, trigger_reason, charger_at, offline,
           evse_id, connector_id, charging_state, time_spent_charging, stopped_reason, remote_start_id,
           reservation_id, number_of_phases_used, cable_max_current, id_token, id_token_type,
           authorization_status, group_id_token, unique_id, payload, response, received_at, event_no
      FROM pgcsms.transaction_events;
COMMENT ON VIEW ocpp.transaction_events IS
    'Every OCPP 2.0.1 TransactionEventRequest, one row per (charge_point_id, transaction_id, seq_no, event_no), as sent (payload) and answered (response; authorization_status: the idTokenInfo status we gave its idToken). event_no is 0, or for a different event under a seqNo already used, 1, 2... in the order they came (see ocpp.anomalies transaction_event_conflict). transaction_id is the station''s: join ocpp.transactions on (charge_point_id, transaction_id). A gap in seq_no is an event not received (yet).';

COMMENT ON VIEW ocpp.anomalies IS
    'Things to review: unknown_transaction_stop (1.6 stop of an unknown transaction; 2.0.1 Ended event of a transaction never seen before, recorded from it), duplicate_stop (a second stop, or Ended event with another seqNo), superseded_transaction (left open when a new one started on its connector or EVSE), transaction_event_conflict (a 2.0.1 event reusing the seqNo of a different one: kept and applied, after the events of that seqNo that came before it), clock_skew, unknown_reservation (used by a transaction, or updated by the station, but not ours or no longer open), command_effect_failed (an answered command whose business effect failed; the answer itself is in ocpp.commands).';

-- ConcurrentTx in OCPP 2.0.1 is the operator's choice, off unless asked for:
-- the OCTT charges with one token on several EVSEs (TC_C_48), and a
-- transaction left open elsewhere would refuse a token for good.
INSERT INTO pgcsms.settings (key, value, description) VALUES
    ('v201_concurrent_tx', 'off',
     'OCPP 2.0.1 and later: on answers ConcurrentTx to a TransactionEvent whose idToken starts a transaction while it is in another open one; off (default) never does. A 2.0.1 Authorize is never ConcurrentTx; OCPP 1.6 always checks');
