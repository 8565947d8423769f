-- OCPP 2.0.1 reservations (H): ReserveNow and CancelReservation answered
-- (the rules of 1.6, sql/functions/command_effect_reservations.sql), and the
-- station's own word on a reservation it ended.

CREATE OR REPLACE FUNCTION ocpp._v201_effect_reserve_now(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    SELECT ocpp._reservation_answered(c, (c.payload->>'id')::integer)
$$;
COMMENT ON FUNCTION ocpp._v201_effect_reserve_now(pgcsms.commands) IS
    'ReserveNow (2.0.1: the reservation is id) finished: see ocpp._reservation_answered.';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_cancel_reservation(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    SELECT ocpp._effect_cancel_reservation(c)
$$;
COMMENT ON FUNCTION ocpp._v201_effect_cancel_reservation(pgcsms.commands) IS
    'CancelReservation (2.0.1, the same reservationId as 1.6) Accepted: see ocpp._effect_cancel_reservation.';

CREATE OR REPLACE FUNCTION ocpp.v201_reservation_status_update(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    reservation bigint := (payload->>'reservationId')::bigint;
    found_status text;
BEGIN
    SELECT r.status INTO found_status FROM pgcsms.reservations AS r
     WHERE r.id = reservation AND r.charge_point_id = v201_reservation_status_update.charge_point_id
       FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO pgcsms.anomalies (charge_point_id, kind, unique_id, detail)
        VALUES (charge_point_id, 'unknown_reservation', unique_id,
                jsonb_build_object('reservation_id', reservation,
                                   'reservation_update_status', payload->>'reservationUpdateStatus'));
    ELSIF found_status NOT IN ('Used', 'Cancelled') THEN
        -- Used or Cancelled, it was over already: the station tidies up.
        UPDATE pgcsms.reservations AS r
           SET status = CASE payload->>'reservationUpdateStatus' WHEN 'Expired' THEN 'Expired' ELSE 'Removed' END,
               updated_at = now()
         WHERE r.id = reservation AND r.charge_point_id = v201_reservation_status_update.charge_point_id;
    END IF;
    RETURN '{}'::jsonb;
END
$$;
COMMENT ON FUNCTION ocpp.v201_reservation_status_update(text, text, jsonb) IS
    'OCPP 2.0.1 ReservationStatusUpdate: the reservation becomes Expired or Removed (unless a transaction used it or it was cancelled); one that is not this station''s is an unknown_reservation anomaly. Answers {}.';
