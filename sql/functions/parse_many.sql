-- Many CALLs, from many chargers, in one round trip and one commit. Each
-- message still runs in its own subtransaction inside ocpp.parse, so one bad
-- message cannot undo another; every charger gets its answer after the single
-- commit. The proxy groups frames this way while all its connections are busy.
CREATE OR REPLACE FUNCTION ocpp.parse_many(
    charge_point_ids text[],
    unique_ids text[],
    actions text[],
    payloads jsonb[],
    ocpp_versions text[],
    node_id text DEFAULT NULL)
RETURNS TABLE (result jsonb, error_code text, error_description text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF cardinality(charge_point_ids) IS DISTINCT FROM cardinality(unique_ids)
       OR cardinality(charge_point_ids) IS DISTINCT FROM cardinality(actions)
       OR cardinality(charge_point_ids) IS DISTINCT FROM cardinality(payloads)
       OR cardinality(charge_point_ids) IS DISTINCT FROM cardinality(ocpp_versions) THEN
        RAISE EXCEPTION 'parse_many needs arrays of one length' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 1 .. coalesce(cardinality(charge_point_ids), 0) LOOP
        RETURN QUERY SELECT p.result, p.error_code, p.error_description
                       FROM ocpp.parse(charge_point_ids[i], unique_ids[i], actions[i], payloads[i],
                                       ocpp_versions[i], node_id) AS p;
    END LOOP;
END
$$;
COMMENT ON FUNCTION ocpp.parse_many(text[], text[], text[], jsonb[], text[], text) IS
    'ocpp.parse for many CALLs at once (element i of each array is one CALL), answers in the same order, all in one transaction: the proxy''s group commit under load.';
REVOKE ALL ON FUNCTION ocpp.parse_many(text[], text[], text[], jsonb[], text[], text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ocpp.parse_many(text[], text[], text[], jsonb[], text[], text) TO pgcsms_proxy;
