-- ReserveNow and CancelReservation: pgcsms.reservations. A reservation is
-- made by ocpp.reserve_now (status Requested) and takes the charger's answer.
CREATE OR REPLACE FUNCTION ocpp._effect_reserve_now(c pgcsms.commands)
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
     WHERE r.id = (c.payload->>'reservationId')::integer AND r.charge_point_id = c.charge_point_id
       AND r.status NOT IN ('Used', 'Cancelled');
END
$$;
COMMENT ON FUNCTION ocpp._effect_reserve_now(pgcsms.commands) IS
    'ReserveNow finished: the reservation takes the charger''s answer (Accepted, Faulted, Occupied, Rejected, Unavailable); Rejected after a CALLERROR, Cancelled if never delivered; unchanged after a timeout.';

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
COMMENT ON FUNCTION ocpp._effect_cancel_reservation(pgcsms.commands) IS 'CancelReservation Accepted: the reservation is Cancelled.';

-- OCPP 1.6 §5.13: a reserved connector serves only the reserved idTag, or a
-- tag with the same parentIdTag as the reservation's. The charger enforces
-- that itself; we answer consistently when a charger asks anyway: idTagInfo
-- Invalid ("not allowed for charging"), not Blocked, which would mark the
-- tag itself as barred in the charger's authorization cache. Only
-- reservations the charger Accepted and that have not expired count. A
-- reservation of connector 0 leaves it to the charger to keep some connector
-- free, so it refuses nothing here.
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
        -- StartTransaction: this connector is held for someone else.
        RETURN EXISTS (
            SELECT FROM pgcsms.reservations AS r
             WHERE r.charge_point_id = _reserved_for_other.charge_point_id
               AND r.connector_id = _reserved_for_other.connector_id AND r.connector_id > 0
               AND r.status = 'Accepted' AND r.expires_at > now()
               AND r.id IS DISTINCT FROM _reserved_for_other.reservation_id
               AND upper(r.id_tag) <> upper(_reserved_for_other.id_tag)
               AND (r.parent_id_tag IS NULL OR parent IS NULL OR upper(r.parent_id_tag) <> upper(parent)));
    END IF;
    -- Authorize names no connector: refused when every connector we know of
    -- is held for someone else.
    RETURN EXISTS (SELECT FROM pgcsms.connectors AS k
                    WHERE k.charge_point_id = _reserved_for_other.charge_point_id AND k.connector_id > 0)
       AND NOT EXISTS (
            SELECT FROM pgcsms.connectors AS k
             WHERE k.charge_point_id = _reserved_for_other.charge_point_id AND k.connector_id > 0
               AND NOT EXISTS (
                    SELECT FROM pgcsms.reservations AS r
                     WHERE r.charge_point_id = k.charge_point_id AND r.connector_id = k.connector_id
                       AND r.status = 'Accepted' AND r.expires_at > now()
                       AND upper(r.id_tag) <> upper(_reserved_for_other.id_tag)
                       AND (r.parent_id_tag IS NULL OR parent IS NULL OR upper(r.parent_id_tag) <> upper(parent))));
END
$$;
COMMENT ON FUNCTION ocpp._reserved_for_other(text, integer, text, integer) IS
    'True when a tag may not charge because of reservations for other tags (OCPP 1.6 §5.13): with a connector (StartTransaction), that connector has an Accepted, unexpired reservation for another tag (nor the same parentIdTag) other than reservation_id; without (Authorize), every known connector of the charger has one. Connector 0 reservations are left to the charger.';
