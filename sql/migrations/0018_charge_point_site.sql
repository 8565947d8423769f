-- ocpp.add_charge_point gains a site (sql/functions/charge_points.sql): the
-- old signature goes, so that no call is ambiguous between the two.
DROP FUNCTION IF EXISTS ocpp.add_charge_point(text, text, text, integer);
