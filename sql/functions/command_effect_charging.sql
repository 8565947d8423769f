-- Smart charging: SetChargingProfile, ClearChargingProfile, GetCompositeSchedule.
CREATE OR REPLACE FUNCTION ocpp._effect_set_charging_profile(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    wanted jsonb := c.payload->'csChargingProfiles';
    connector integer := (c.payload->>'connectorId')::integer;
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    -- OCPP 1.6 §5.16: a profile replaces the one with the same id, or with
    -- the same stack level and purpose (on the same connector).
    DELETE FROM pgcsms.charging_profiles AS p
     WHERE p.charge_point_id = c.charge_point_id
       AND (p.charging_profile_id = (wanted->>'chargingProfileId')::integer
            OR (p.connector_id = connector AND p.stack_level = (wanted->>'stackLevel')::integer
                AND p.purpose = wanted->>'chargingProfilePurpose'));
    INSERT INTO pgcsms.charging_profiles
        (charge_point_id, charging_profile_id, connector_id, stack_level, purpose, kind, recurrency_kind,
         transaction_id, valid_from, valid_to, charging_schedule, profile, command_id)
    VALUES (c.charge_point_id, (wanted->>'chargingProfileId')::integer, connector,
            (wanted->>'stackLevel')::integer, wanted->>'chargingProfilePurpose', wanted->>'chargingProfileKind',
            wanted->>'recurrencyKind', (wanted->>'transactionId')::integer, ocpp._ts(wanted->>'validFrom'),
            ocpp._ts(wanted->>'validTo'), wanted->'chargingSchedule', wanted, c.id);
END
$$;
COMMENT ON FUNCTION ocpp._effect_set_charging_profile(pgcsms.commands) IS
    'SetChargingProfile Accepted: the profile stored for the charger and connector, replacing one with the same chargingProfileId or the same stackLevel and purpose on that connector.';

CREATE OR REPLACE FUNCTION ocpp._effect_clear_charging_profile(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    -- An id names one profile; otherwise the given fields select, and none
    -- given means every profile.
    DELETE FROM pgcsms.charging_profiles AS p
     WHERE p.charge_point_id = c.charge_point_id
       AND CASE WHEN c.payload ? 'id' THEN p.charging_profile_id = (c.payload->>'id')::integer
                ELSE (NOT c.payload ? 'connectorId' OR p.connector_id = (c.payload->>'connectorId')::integer)
                 AND (NOT c.payload ? 'chargingProfilePurpose' OR p.purpose = c.payload->>'chargingProfilePurpose')
                 AND (NOT c.payload ? 'stackLevel' OR p.stack_level = (c.payload->>'stackLevel')::integer)
           END;
END
$$;
COMMENT ON FUNCTION ocpp._effect_clear_charging_profile(pgcsms.commands) IS
    'ClearChargingProfile Accepted: removes the profile with the given id, or else the profiles matching connectorId, chargingProfilePurpose and stackLevel (all when none is given).';

CREATE OR REPLACE FUNCTION ocpp._effect_get_composite_schedule(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    INSERT INTO pgcsms.composite_schedules
        (charge_point_id, command_id, connector_id, duration, charging_rate_unit, schedule_start, charging_schedule)
    VALUES (c.charge_point_id, c.id,
            coalesce((c.response->>'connectorId')::integer, (c.payload->>'connectorId')::integer),
            coalesce((c.response#>>'{chargingSchedule,duration}')::integer, (c.payload->>'duration')::integer),
            coalesce(c.response#>>'{chargingSchedule,chargingRateUnit}', c.payload->>'chargingRateUnit'),
            ocpp._ts(c.response->>'scheduleStart'), c.response->'chargingSchedule');
END
$$;
COMMENT ON FUNCTION ocpp._effect_get_composite_schedule(pgcsms.commands) IS
    'GetCompositeSchedule Accepted: the schedule kept in ocpp.composite_schedules.';
