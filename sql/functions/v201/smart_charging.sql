-- OCPP 2.0.1 smart charging (K): the station's side (external limits, ISO
-- 15118 charging needs and schedules, reported profiles) and the effects of
-- our SetChargingProfile, ClearChargingProfile and GetCompositeSchedule, which
-- read the 2.0.1 fields into the rules 1.6 shares
-- (sql/functions/command_effect_charging.sql).

CREATE OR REPLACE FUNCTION ocpp.v201_notify_charging_limit(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    -- One limit per EVSE (0: the whole station) and source; a new one replaces it.
    INSERT INTO pgcsms.charging_limits AS l
        (charge_point_id, evse_id, charging_limit_source, is_grid_critical, charging_schedule, unique_id)
    VALUES (charge_point_id, coalesce((payload->>'evseId')::integer, 0), payload#>>'{chargingLimit,chargingLimitSource}',
            (payload#>>'{chargingLimit,isGridCritical}')::boolean, payload->'chargingSchedule', unique_id)
    ON CONFLICT (charge_point_id, evse_id, charging_limit_source) DO UPDATE
       SET is_grid_critical = excluded.is_grid_critical, charging_schedule = excluded.charging_schedule,
           unique_id = excluded.unique_id, notified_at = now();
    SELECT '{}'::jsonb
$$;
COMMENT ON FUNCTION ocpp.v201_notify_charging_limit(text, text, jsonb) IS
    'NotifyChargingLimit: the external limit (source, grid critical, schedules) kept per EVSE and source in ocpp.charging_limits, replacing the one before.';

CREATE OR REPLACE FUNCTION ocpp.v201_cleared_charging_limit(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    -- Without an EVSE, the source's limits are gone everywhere on the station.
    DELETE FROM pgcsms.charging_limits AS l
     WHERE l.charge_point_id = v201_cleared_charging_limit.charge_point_id
       AND l.charging_limit_source = payload->>'chargingLimitSource'
       AND (NOT payload ? 'evseId' OR l.evse_id = (payload->>'evseId')::integer);
    SELECT '{}'::jsonb
$$;
COMMENT ON FUNCTION ocpp.v201_cleared_charging_limit(text, text, jsonb) IS
    'ClearedChargingLimit: removes the source''s limit on the EVSE from ocpp.charging_limits, or on every EVSE when none is named.';

CREATE OR REPLACE FUNCTION ocpp.v201_notify_ev_charging_needs(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    -- K15.FR.03: Accepted, a schedule will follow; it is the operator's or an
    -- integration's to send (ocpp.set_charging_profile).
    INSERT INTO pgcsms.ev_charging_needs
        (charge_point_id, evse_id, requested_energy_transfer, departure_time, charging_needs, max_schedule_tuples,
         status, unique_id)
    VALUES (charge_point_id, (payload->>'evseId')::integer, payload#>>'{chargingNeeds,requestedEnergyTransfer}',
            ocpp._ts(payload#>>'{chargingNeeds,departureTime}'), payload->'chargingNeeds',
            (payload->>'maxScheduleTuples')::integer, 'Accepted', unique_id);
    SELECT jsonb_build_object('status', 'Accepted')
$$;
COMMENT ON FUNCTION ocpp.v201_notify_ev_charging_needs(text, text, jsonb) IS
    'NotifyEVChargingNeeds: what the EV asked for kept in ocpp.ev_charging_needs; answered Accepted.';

CREATE OR REPLACE FUNCTION ocpp.v201_notify_ev_charging_schedule(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    INSERT INTO pgcsms.ev_charging_schedules (charge_point_id, evse_id, time_base, charging_schedule, status, unique_id)
    VALUES (charge_point_id, (payload->>'evseId')::integer, ocpp._ts(payload->>'timeBase'), payload->'chargingSchedule',
            'Accepted', unique_id);
    SELECT jsonb_build_object('status', 'Accepted')
$$;
COMMENT ON FUNCTION ocpp.v201_notify_ev_charging_schedule(text, text, jsonb) IS
    'NotifyEVChargingSchedule: the schedule the EV chose kept in ocpp.ev_charging_schedules; answered Accepted (the station has checked it against our limits, K15.FR.07).';

CREATE OR REPLACE FUNCTION ocpp.v201_report_charging_profiles(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE sql
AS $$
    INSERT INTO pgcsms.reported_charging_profiles
        (charge_point_id, request_id, command_id, evse_id, charging_limit_source, charging_profile_id, stack_level,
         purpose, kind, recurrency_kind, transaction_remote_id, valid_from, valid_to, charging_schedule, profile, tbc,
         unique_id)
    SELECT charge_point_id, (payload->>'requestId')::integer,
           ocpp._command_of_request(charge_point_id, 'GetChargingProfiles', (payload->>'requestId')::integer),
           (payload->>'evseId')::integer, payload->>'chargingLimitSource', (p->>'id')::integer,
           (p->>'stackLevel')::integer, p->>'chargingProfilePurpose', p->>'chargingProfileKind', p->>'recurrencyKind',
           p->>'transactionId', ocpp._ts(p->>'validFrom'), ocpp._ts(p->>'validTo'), p->'chargingSchedule', p,
           coalesce((payload->>'tbc')::boolean, false), unique_id
      FROM jsonb_array_elements(ocpp._array(payload->'chargingProfile')) AS p;
    SELECT '{}'::jsonb
$$;
COMMENT ON FUNCTION ocpp.v201_report_charging_profiles(text, text, jsonb) IS
    'ReportChargingProfiles: each profile kept in ocpp.reported_charging_profiles with its EVSE and limit source, linked to the GetChargingProfiles command of its requestId.';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_set_charging_profile(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    wanted jsonb := c.payload->'chargingProfile';
    p pgcsms.charging_profiles;
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    p.charge_point_id := c.charge_point_id;
    p.charging_profile_id := (wanted->>'id')::integer;
    p.evse_id := (c.payload->>'evseId')::integer;
    p.stack_level := (wanted->>'stackLevel')::integer;
    p.purpose := wanted->>'chargingProfilePurpose';
    p.kind := wanted->>'chargingProfileKind';
    p.recurrency_kind := wanted->>'recurrencyKind';
    p.transaction_remote_id := wanted->>'transactionId';
    p.valid_from := ocpp._ts(wanted->>'validFrom');
    p.valid_to := ocpp._ts(wanted->>'validTo');
    p.charging_schedule := wanted->'chargingSchedule';
    p.profile := wanted;
    p.command_id := c.id;
    PERFORM ocpp._keep_charging_profile(p, replaces_same_stack => false);
END
$$;
COMMENT ON FUNCTION ocpp._v201_effect_set_charging_profile(pgcsms.commands) IS
    'OCPP 2.0.1 SetChargingProfile Accepted: the profile stored for the station and EVSE (ocpp._keep_charging_profile), replacing the one with the same id.';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_clear_charging_profile(c pgcsms.commands)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF c.status <> 'accepted' THEN
        RETURN;
    END IF;
    PERFORM ocpp._clear_charging_profiles(
        c.charge_point_id, (c.payload->>'chargingProfileId')::integer,
        (c.payload#>>'{chargingProfileCriteria,evseId}')::integer,
        c.payload#>>'{chargingProfileCriteria,chargingProfilePurpose}',
        (c.payload#>>'{chargingProfileCriteria,stackLevel}')::integer);
END
$$;
COMMENT ON FUNCTION ocpp._v201_effect_clear_charging_profile(pgcsms.commands) IS
    'OCPP 2.0.1 ClearChargingProfile Accepted: removes the profile chargingProfileId names, or else those matching the criteria''s evseId, purpose and stack level.';

CREATE OR REPLACE FUNCTION ocpp._v201_effect_get_composite_schedule(c pgcsms.commands)
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
    s.evse_id := coalesce((c.response#>>'{schedule,evseId}')::integer, (c.payload->>'evseId')::integer);
    s.duration := coalesce((c.response#>>'{schedule,duration}')::integer, (c.payload->>'duration')::integer);
    s.charging_rate_unit := coalesce(c.response#>>'{schedule,chargingRateUnit}', c.payload->>'chargingRateUnit');
    s.schedule_start := ocpp._ts(c.response#>>'{schedule,scheduleStart}');
    s.charging_schedule := c.response->'schedule';
    PERFORM ocpp._keep_composite_schedule(s);
END
$$;
COMMENT ON FUNCTION ocpp._v201_effect_get_composite_schedule(pgcsms.commands) IS
    'OCPP 2.0.1 GetCompositeSchedule Accepted: the schedule (CompositeScheduleType) kept in ocpp.composite_schedules for its EVSE.';
