-- OCPP 2.1 dynamic charging profiles (K01): a profile whose limits and
-- setpoints change often and at no fixed time. We keep the latest of each
-- profile (pgcsms.dynamic_schedules), push it (UpdateDynamicSchedule) and
-- answer the station that pulls it (PullDynamicScheduleUpdate).

-- The fields of a ChargingScheduleUpdateType, all numbers.
CREATE OR REPLACE FUNCTION ocpp._check_schedule_update(schedule_update jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    wrong text;
BEGIN
    IF jsonb_typeof(schedule_update) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'a schedule update is a JSON object (ChargingScheduleUpdateType), not %',
                        coalesce(schedule_update::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. ''{"limit": 11000, "setpoint": -3000}''';
    END IF;
    SELECT string_agg(u.key, ', ' ORDER BY u.key) INTO wrong FROM jsonb_each(schedule_update) AS u
     WHERE u.key NOT IN ('limit', 'limit_L2', 'limit_L3', 'dischargeLimit', 'dischargeLimit_L2', 'dischargeLimit_L3',
                         'setpoint', 'setpoint_L2', 'setpoint_L3', 'setpointReactive', 'setpointReactive_L2',
                         'setpointReactive_L3', 'customData')
        OR u.key <> 'customData' AND jsonb_typeof(u.value) <> 'number';
    IF wrong IS NOT NULL THEN
        RAISE EXCEPTION 'not a number of a ChargingScheduleUpdateType: %', wrong USING ERRCODE = 'invalid_parameter_value',
            HINT = 'limit, limit_L2, limit_L3, dischargeLimit(_L2, _L3), setpoint(_L2, _L3), setpointReactive(_L2, _L3)';
    END IF;
    RETURN schedule_update;
END
$$;
COMMENT ON FUNCTION ocpp._check_schedule_update(jsonb) IS
    'The schedule update if it is an OCPP 2.1 ChargingScheduleUpdateType (limit, dischargeLimit, setpoint, setpointReactive and their _L2, _L3, all numbers), else invalid_parameter_value: a PullDynamicScheduleUpdate is answered with it as it is.';

CREATE OR REPLACE FUNCTION ocpp.set_dynamic_schedule(charge_point_id text, charging_profile_id integer,
                                                     schedule_update jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pgcsms.charge_points AS cp WHERE cp.id = set_dynamic_schedule.charge_point_id) THEN
        RAISE EXCEPTION 'unknown charge point %', quote_nullable(charge_point_id) USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO pgcsms.dynamic_schedules AS d (charge_point_id, charging_profile_id, schedule_update)
    VALUES (set_dynamic_schedule.charge_point_id, set_dynamic_schedule.charging_profile_id,
            ocpp._check_schedule_update(set_dynamic_schedule.schedule_update))
    ON CONFLICT ON CONSTRAINT dynamic_schedules_pkey DO UPDATE
       SET schedule_update = excluded.schedule_update, updated_at = now(), command_id = NULL, delivered_at = NULL;
END
$$;
COMMENT ON FUNCTION ocpp.set_dynamic_schedule(text, integer, jsonb) IS
    'Keeps the latest limits and setpoints of a dynamic charging profile of an OCPP 2.1 station (schedule_update: a ChargingScheduleUpdateType, e.g. {"limit": 11000}), for the station to pull (PullDynamicScheduleUpdate). ocpp.update_dynamic_schedule also pushes it.';
REVOKE ALL ON FUNCTION ocpp.set_dynamic_schedule(text, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.set_dynamic_schedule(text, integer, jsonb) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.update_dynamic_schedule(
    charge_point_id text, charging_profile_id integer, schedule_update jsonb, expires_at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    PERFORM ocpp.set_dynamic_schedule(charge_point_id, charging_profile_id, schedule_update);
    new_id := ocpp.send(charge_point_id, 'UpdateDynamicSchedule', jsonb_build_object(
        'chargingProfileId', charging_profile_id, 'scheduleUpdate', schedule_update), expires_at);
    UPDATE pgcsms.dynamic_schedules AS d SET command_id = new_id
     WHERE d.charge_point_id = update_dynamic_schedule.charge_point_id
       AND d.charging_profile_id = update_dynamic_schedule.charging_profile_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION ocpp.update_dynamic_schedule(text, integer, jsonb, timestamptz) IS
    'Keeps the latest limits and setpoints of a dynamic charging profile (ocpp.set_dynamic_schedule) and queues UpdateDynamicSchedule (OCPP 2.1, K01) to push them to the station; Accepted sets ocpp.dynamic_schedules.delivered_at. A station that pulls meanwhile gets them too. Returns the command id.';
REVOKE ALL ON FUNCTION ocpp.update_dynamic_schedule(text, integer, jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.update_dynamic_schedule(text, integer, jsonb, timestamptz) TO pgcsms_operator;

CREATE OR REPLACE FUNCTION ocpp.v21_pull_dynamic_schedule_update(charge_point_id text, unique_id text, payload jsonb)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
    latest jsonb;
BEGIN
    UPDATE pgcsms.dynamic_schedules AS d SET pulled_at = now()
     WHERE d.charge_point_id = v21_pull_dynamic_schedule_update.charge_point_id
       AND d.charging_profile_id = (payload->>'chargingProfileId')::integer
    RETURNING d.schedule_update INTO latest;
    IF latest IS NULL THEN
        RETURN jsonb_build_object('status', 'Rejected', 'statusInfo', jsonb_build_object(
            'reasonCode', 'NotFound',
            'additionalInfo', 'No schedule update is known for charging profile ' || (payload->>'chargingProfileId')));
    END IF;
    RETURN jsonb_build_object('status', 'Accepted', 'scheduleUpdate', latest);
END
$$;
COMMENT ON FUNCTION ocpp.v21_pull_dynamic_schedule_update(text, text, jsonb) IS
    'PullDynamicScheduleUpdate (2.1, K01): answers Accepted with the latest scheduleUpdate kept for the charging profile (ocpp.dynamic_schedules, pulled_at noted), Rejected (reasonCode NotFound) when there is none.';

CREATE OR REPLACE FUNCTION ocpp._v21_effect_update_dynamic_schedule(c pgcsms.commands)
RETURNS void
LANGUAGE sql
AS $$
    -- Sent with ocpp.send, not the helper: kept all the same, unless a newer
    -- update was set meanwhile.
    INSERT INTO pgcsms.dynamic_schedules AS d
        (charge_point_id, charging_profile_id, schedule_update, updated_at, command_id, delivered_at)
    SELECT c.charge_point_id, (c.payload->>'chargingProfileId')::integer, c.payload->'scheduleUpdate', c.created_at,
           c.id, now()
     WHERE c.status = 'accepted'
    ON CONFLICT (charge_point_id, charging_profile_id) DO UPDATE
       SET command_id = excluded.command_id, delivered_at = excluded.delivered_at,
           schedule_update = CASE WHEN d.command_id = excluded.command_id THEN d.schedule_update
                                  ELSE excluded.schedule_update END,
           updated_at = CASE WHEN d.command_id = excluded.command_id THEN d.updated_at ELSE excluded.updated_at END
     WHERE d.command_id = excluded.command_id OR d.updated_at <= excluded.updated_at
$$;
COMMENT ON FUNCTION ocpp._v21_effect_update_dynamic_schedule(pgcsms.commands) IS
    'UpdateDynamicSchedule answered Accepted: the update is the profile''s latest in ocpp.dynamic_schedules (unless a newer one was set since the command was queued), delivered_at set.';
