-- OCPP 2.1 TransactionEvent: 2.0.1's rules (ocpp.v201_transaction_event,
-- told the version), and what 2.1 adds to a session kept on it, latest by
-- seqNo like everything a transaction's events say: the limits it runs under
-- (transactionLimit, E16), its operation mode (bidirectional charging, Q),
-- the tariff it applies and the cost it computed itself (tariffId and
-- costDetails, I12). The cost pgcsms computes from its tariffs is not this
-- one: sql/functions/tariffs.sql.
CREATE OR REPLACE FUNCTION ocpp.v21_transaction_event(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    answer jsonb := ocpp.v201_transaction_event(charge_point_id, unique_id, payload, '2.1');
BEGIN
    PERFORM ocpp._v21_transaction_fields(charge_point_id, payload->'transactionInfo'->>'transactionId');
    RETURN answer;
END
$$;
COMMENT ON FUNCTION ocpp.v21_transaction_event(text, text, jsonb) IS
    'TransactionEvent (2.1): as in 2.0.1 (ocpp.v201_transaction_event, the transaction recorded as 2.1), then the session''s transactionLimit, operationMode, tariffId and costDetails, latest by seqNo, on the transaction (ocpp._v21_transaction_fields, ocpp.transaction_details).';

CREATE OR REPLACE FUNCTION ocpp._v21_transaction_fields(charge_point_id text, remote_id text)
RETURNS void
LANGUAGE sql
AS $$
    -- From all of its events, so a late one never overwrites a later one.
    WITH said AS (
        SELECT (array_agg(e.payload->'transactionInfo'->'transactionLimit' ORDER BY e.seq_no DESC, e.event_no DESC)
                    FILTER (WHERE e.payload->'transactionInfo' ? 'transactionLimit'))[1] AS transaction_limit,
               (array_agg(e.payload->'transactionInfo'->>'operationMode' ORDER BY e.seq_no DESC, e.event_no DESC)
                    FILTER (WHERE e.payload->'transactionInfo' ? 'operationMode'))[1] AS operation_mode,
               (array_agg(e.payload->'transactionInfo'->>'tariffId' ORDER BY e.seq_no DESC, e.event_no DESC)
                    FILTER (WHERE e.payload->'transactionInfo' ? 'tariffId'))[1] AS tariff_id,
               (array_agg(e.payload->'costDetails' ORDER BY e.seq_no DESC, e.event_no DESC)
                    FILTER (WHERE e.payload ? 'costDetails'))[1] AS station_cost_details
          FROM pgcsms.transaction_events AS e
         WHERE e.charge_point_id = _v21_transaction_fields.charge_point_id
           AND e.remote_id = _v21_transaction_fields.remote_id)
    UPDATE pgcsms.transactions AS t
       SET transaction_limit = s.transaction_limit, operation_mode = s.operation_mode, tariff_id = s.tariff_id,
           station_cost_details = s.station_cost_details
      FROM said AS s
     WHERE t.charge_point_id = _v21_transaction_fields.charge_point_id AND t.remote_id = _v21_transaction_fields.remote_id
       AND (t.transaction_limit, t.operation_mode, t.tariff_id, t.station_cost_details)
           IS DISTINCT FROM (s.transaction_limit, s.operation_mode, s.tariff_id, s.station_cost_details)
$$;
COMMENT ON FUNCTION ocpp._v21_transaction_fields(text, text) IS
    'The OCPP 2.1 fields of a station''s transaction (its transactionId) from all of its TransactionEvents, latest by seqNo: transaction_limit, operation_mode, tariff_id and station_cost_details (the cost the station computed) in pgcsms.transactions.';
