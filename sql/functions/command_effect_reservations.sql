-- ReserveNow and CancelReservation, in both versions: pgcsms.reservations. A
-- reservation is made by ocpp.reserve_now (status Requested) and takes the
-- charger's answer; connector_id is the reserved connector (1.6) or EVSE
-- (2.0.1), 0 for any.
CREATE OR REPLACE FUNCTION ocpp._reservation_answered(c pgcsms.commands, reservation_id integer)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    new_status text := CASE
        WHEN c.status IN ('accepted', 'rejected') THEN c.response->>'status'
        WHEN c.status = 'failed' THEN 'Rejected'                   -- CALLERROR, or never sent
        WHEN c.status IN ('expired', 'cancelled') THEN 'Cancelled' -- never sent
    END;  -- timeout: unknown; it stays Requested until it expires
BEGIN
    IF new_status IS NULL THEN
        RETURN;
    END IF;
    UPDATE pgcsms.reservations AS r SET status = new_status, updated_at = now()
     WHERE r.id = reservation_id AND r.charge_point_id = c.charge_point_id
       AND r.status NOT IN ('Used', 'Cancelled', 'Removed');
END
$$;
COMMENT ON FUNCTION ocpp._reservation_answered(pgcsms.commands, integer) IS
    'A ReserveNow (either version) finished: the reservation takes the charger''s answer (Accepted, Faulted, Occupied, Rejected, Unavailable); Rejected after a CALLERROR, Cancelled if never delivered; unchanged after a timeout, or once Used, Cancelled or Removed.';

CREATE OR REPLACE FUNCTION ocpp._effect_reserve_now(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    SELECT ocpp._reservation_answered(c, (c.payload->>'reservationId')::integer)
$$;
COMMENT ON FUNCTION ocpp._effect_reserve_now(pgcsms.commands) IS
    'ReserveNow (1.6, reservationId) finished: see ocpp._reservation_answered.';

CREATE OR REPLACE FUNCTION ocpp._effect_cancel_reservation(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    UPDATE pgcsms.reservations AS r SET status = 'Cancelled', updated_at = now()
     WHERE r.id = (c.payload->>'reservationId')::integer AND r.charge_point_id = c.charge_point_id
       AND r.status <> 'Used';
END
$$;
COMMENT ON FUNCTION ocpp._effect_cancel_reservation(pgcsms.commands) IS
    'CancelReservation Accepted (either version: both name reservationId): the reservation is Cancelled, unless a transaction used it.';

-- OCPP 1.6 §5.13, 2.0.1 H01: a reserved connector (EVSE) serves only the
-- reserved token, or a token with the same group (parentIdTag,
-- groupIdToken) as the reservation's. The charger enforces that itself; we
-- answer consistently when a charger asks anyway: Invalid ("not allowed for
-- charging"), not Blocked, which would mark the token itself as barred in the
-- charger's authorization cache. Only reservations the charger Accepted and
-- that have not expired count. A reservation of connector (EVSE) 0 leaves it
-- to the charger to keep one free, so it refuses nothing here.
CREATE OR REPLACE FUNCTION ocpp._reserved_for_other(
    charge_point_id text, connector_id integer, id_tag text, reservation_id integer DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    parent text;
BEGIN
    IF NOT EXISTS (SELECT FROM pgcsms.reservations AS r
                    WHERE r.charge_point_id = _reserved_for_other.charge_point_id AND r.status = 'Accepted'
                      AND r.expires_at > now()) THEN
        RETURN false;
    END IF;
    SELECT t.parent_id_tag INTO parent FROM pgcsms.id_tags AS t WHERE upper(t.id_tag) = upper(_reserved_for_other.id_tag);
    IF connector_id IS NOT NULL THEN
        -- A transaction starts: this connector (EVSE) is held for someone else.
        RETURN EXISTS (
            SELECT FROM pgcsms.reservations AS r
             WHERE r.charge_point_id = _reserved_for_other.charge_point_id
               AND r.connector_id = _reserved_for_other.connector_id AND r.connector_id > 0
               AND r.status = 'Accepted' AND r.expires_at > now()
               AND r.id IS DISTINCT FROM _reserved_for_other.reservation_id
               AND upper(r.id_tag) <> upper(_reserved_for_other.id_tag)
               AND (r.parent_id_tag IS NULL OR parent IS NULL OR upper(r.parent_id_tag) <> upper(parent)));
    END IF;
    -- Authorize names no connector: refused when every EVSE we know of (a
    -- 1.6 connector is its own EVSE) is held for someone else.
    RETURN EXISTS (SELECT FROM pgcsms.connectors AS k
                    WHERE k.charge_point_id = _reserved_for_other.charge_point_id AND k.evse_id > 0)
       AND NOT EXISTS (
            SELECT FROM pgcsms.connectors AS k
             WHERE k.charge_point_id = _reserved_for_other.charge_point_id AND k.evse_id > 0
               AND NOT EXISTS (
                    SELECT FROM pgcsms.reservations AS r
                     WHERE r.charge_point_id = k.charge_point_id AND r.connector_id = k.evse_id
                       AND r.status = 'Accepted' AND r.expires_at > now()
                       AND upper(r.id_tag) <> upper(_reserved_for_other.id_tag)
                       AND (r.parent_id_tag IS NULL OR parent IS NULL OR upper(r.parent_id_tag) <> upper(parent))));
END
$$;
COMMENT ON FUNCTION ocpp._reserved_for_other(text, integer, text, integer) IS
    'True when a token may not charge because of reservations for other tokens (OCPP 1.6 §5.13, 2.0.1 H01): with a connector_id (the 1.6 connector or 2.0.1 EVSE a transaction starts on), it has an Accepted, unexpired reservation for another token (nor the same group) other than reservation_id; without (Authorize), every known EVSE of the charger has one. Reservations of 0 (any) are left to the charger.';

-- A transaction that names its reservation uses it (1.6 StartTransaction,
-- 2.0.1 TransactionEvent). One that is not this charger's, or no longer
-- open, is flagged.
CREATE OR REPLACE FUNCTION ocpp._use_reservation(
    charge_point_id text, reservation_id bigint, transaction_id bigint, unique_id text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE pgcsms.reservations AS r SET status = 'Used', transaction_id = _use_reservation.transaction_id,
           updated_at = now()
     WHERE r.id = _use_reservation.reservation_id AND r.charge_point_id = _use_reservation.charge_point_id
       AND r.status IN ('Requested', 'Accepted');
    IF NOT FOUND THEN
        INSERT INTO pgcsms.anomalies (charge_point_id, kind, unique_id, transaction_id, detail)
        VALUES (charge_point_id, 'unknown_reservation', unique_id, transaction_id,
                jsonb_build_object('reservation_id', reservation_id));
    END IF;
END
$$;
COMMENT ON FUNCTION ocpp._use_reservation(text, bigint, bigint, text) IS
    'A transaction named a reservation: it becomes Used (with the transaction), or, when it is not an open (Requested, Accepted) reservation of this charger, an unknown_reservation anomaly.';
