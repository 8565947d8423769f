-- Smart charging: SetChargingProfile, ClearChargingProfile, GetCompositeSchedule.
-- The rules both OCPP versions share are here (which stored profiles a new one
-- replaces, which a clear removes, what a composite schedule keeps, that a
-- TxProfile ends with its transaction); the 1.6 effects below read the 1.6
-- fields, sql/functions/v201/smart_charging.sql the 2.0.1 ones.

CREATE OR REPLACE FUNCTION ocpp._keep_charging_profile(p pgcsms.charging_profiles, replaces_same_stack boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    -- A profile replaces the one with the same id on the charger. OCPP 1.6
    -- (§5.16) also replaces the one with the same stack level and purpose on
    -- the connector; a 2.0.1 station refuses such a profile instead (K01), so
    -- one it accepted replaces by id only.
    DELETE FROM pgcsms.charging_profiles AS x
     WHERE x.charge_point_id = p.charge_point_id
       AND (x.charging_profile_id = p.charging_profile_id
            OR (replaces_same_stack AND x.evse_id = p.evse_id AND x.stack_level = p.stack_level
                AND x.purpose = p.purpose));
    INSERT INTO pgcsms.charging_profiles
        (charge_point_id, charging_profile_id, evse_id, connector_id, stack_level, purpose, kind, recurrency_kind,
         transaction_id, transaction_remote_id, valid_from, valid_to, charging_schedule, profile, command_id)
    VALUES (p.charge_point_id, p.charging_profile_id, p.evse_id, p.connector_id, p.stack_level, p.purpose, p.kind,
            p.recurrency_kind, p.transaction_id, p.transaction_remote_id, p.valid_from, p.valid_to,
            p.charging_schedule, p.profile, p.command_id);
END
$$;
COMMENT ON FUNCTION ocpp._keep_charging_profile(pgcsms.charging_profiles, boolean) IS
    'A profile a charger accepted, stored in ocpp.charging_profiles: it replaces the one with the same chargingProfileId, and with replaces_same_stack (OCPP 1.6) the one with the same stack level and purpose on the same EVSE.';

CREATE OR REPLACE FUNCTION ocpp._clear_charging_profiles(
    charge_point_id text, charging_profile_id integer, evse_id integer, purpose text, stack_level integer)
RETURNS void
LANGUAGE sql
AS $$
    -- An id names one profile; otherwise the given fields select, and none
    -- given means every profile.
    DELETE FROM pgcsms.charging_profiles AS p
     WHERE p.charge_point_id = _clear_charging_profiles.charge_point_id
       AND CASE WHEN _clear_charging_profiles.charging_profile_id IS NOT NULL
                THEN p.charging_profile_id = _clear_charging_profiles.charging_profile_id
                ELSE (_clear_charging_profiles.evse_id IS NULL OR p.evse_id = _clear_charging_profiles.evse_id)
                 AND (_clear_charging_profiles.purpose IS NULL OR p.purpose = _clear_charging_profiles.purpose)
                 AND (_clear_charging_profiles.stack_level IS NULL OR p.stack_level = _clear_charging_profiles.stack_level)
           END
$$;
COMMENT ON FUNCTION ocpp._clear_charging_profiles(text, integer, integer, text, integer) IS
    'ClearChargingProfile accepted: removes the profile with the given id, or else the profiles matching EVSE (1.6: connector), purpose and stack level, every one when none is given.';

CREATE OR REPLACE FUNCTION ocpp._keep_composite_schedule(s pgcsms.composite_schedules)
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO pgcsms.composite_schedules
        (charge_point_id, command_id, evse_id, connector_id, duration, charging_rate_unit, schedule_start,
         charging_schedule)
    VALUES (s.charge_point_id, s.command_id, s.evse_id, s.connector_id, s.duration, s.charging_rate_unit,
            s.schedule_start, s.charging_schedule)
$$;
COMMENT ON FUNCTION ocpp._keep_composite_schedule(pgcsms.composite_schedules) IS
    'GetCompositeSchedule accepted: the schedule kept in ocpp.composite_schedules.';

-- A TxProfile lives as long as its transaction (OCPP 1.6 §3.13.2, 2.0.1
-- K01): named by our id (1.6) or the station's transactionId (2.0.1), or, set
-- without one, the transaction on its EVSE. A trigger on
-- pgcsms.transactions (migration 0011), so it holds for whichever handler
-- closes the transaction.
CREATE OR REPLACE FUNCTION ocpp._end_transaction_profiles()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM pgcsms.charging_profiles AS p
     WHERE p.charge_point_id = new.charge_point_id AND p.purpose = 'TxProfile'
       AND (p.transaction_id = new.id OR p.transaction_remote_id = new.remote_id
            OR (p.transaction_id IS NULL AND p.transaction_remote_id IS NULL AND p.evse_id = new.evse_id));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION ocpp._end_transaction_profiles() IS
    'Trigger on pgcsms.transactions when stopped_at is set: removes the transaction''s TxProfiles from ocpp.charging_profiles (by transactionId, or the EVSE''s when the profile named none).';

-- OCPP 1.6 wire shapes.

CREATE OR REPLACE FUNCTION ocpp._effect_set_charging_profile(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    wanted jsonb := c.payload->'csChargingProfiles';
    p pgcsms.charging_profiles;
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    p.charge_point_id := c.charge_point_id;
    p.charging_profile_id := (wanted->>'chargingProfileId')::integer;
    p.connector_id := (c.payload->>'connectorId')::integer;
    p.evse_id := p.connector_id;
    p.stack_level := (wanted->>'stackLevel')::integer;
    p.purpose := wanted->>'chargingProfilePurpose';
    p.kind := wanted->>'chargingProfileKind';
    p.recurrency_kind := wanted->>'recurrencyKind';
    p.transaction_id := (wanted->>'transactionId')::integer;
    p.valid_from := ocpp._ts(wanted->>'validFrom');
    p.valid_to := ocpp._ts(wanted->>'validTo');
    p.charging_schedule := wanted->'chargingSchedule';
    p.profile := wanted;
    p.command_id := c.id;
    PERFORM ocpp._keep_charging_profile(p, replaces_same_stack => true);
END
$$;
COMMENT ON FUNCTION ocpp._effect_set_charging_profile(pgcsms.commands) IS
    'OCPP 1.6 SetChargingProfile Accepted: the profile stored for the charger and connector (ocpp._keep_charging_profile), replacing one with the same chargingProfileId or the same stackLevel and purpose on that connector.';

CREATE OR REPLACE FUNCTION ocpp._effect_clear_charging_profile(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    PERFORM ocpp._clear_charging_profiles(c.charge_point_id, (c.payload->>'id')::integer,
                                          (c.payload->>'connectorId')::integer, c.payload->>'chargingProfilePurpose',
                                          (c.payload->>'stackLevel')::integer);
END
$$;
COMMENT ON FUNCTION ocpp._effect_clear_charging_profile(pgcsms.commands) IS
    'OCPP 1.6 ClearChargingProfile Accepted: removes the profile with the given id, or else the profiles matching connectorId, chargingProfilePurpose and stackLevel (all when none is given).';

CREATE OR REPLACE FUNCTION ocpp._effect_get_composite_schedule(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    s pgcsms.composite_schedules;
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    s.charge_point_id := c.charge_point_id;
    s.command_id := c.id;
    s.connector_id := coalesce((c.response->>'connectorId')::integer, (c.payload->>'connectorId')::integer);
    s.evse_id := s.connector_id;
    s.duration := coalesce((c.response#>>'{chargingSchedule,duration}')::integer, (c.payload->>'duration')::integer);
    s.charging_rate_unit := coalesce(c.response#>>'{chargingSchedule,chargingRateUnit}', c.payload->>'chargingRateUnit');
    s.schedule_start := ocpp._ts(c.response->>'scheduleStart');
    s.charging_schedule := c.response->'chargingSchedule';
    PERFORM ocpp._keep_composite_schedule(s);
END
$$;
COMMENT ON FUNCTION ocpp._effect_get_composite_schedule(pgcsms.commands) IS
    'OCPP 1.6 GetCompositeSchedule Accepted: the schedule kept in ocpp.composite_schedules.';
