-- ocpp.connect now authenticates too (one round trip per handshake) and
-- takes the credentials: its old signature goes; sql/functions/connections.sql
-- creates the new one.
DROP FUNCTION IF EXISTS ocpp.connect(text, text, text, text);
