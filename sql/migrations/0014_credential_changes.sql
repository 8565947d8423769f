-- Credentials that change while a charger is out in the field:
-- * a new password sent by command (1.6 AuthorizationKey, 2.0.1
--   BasicAuthPassword) and a security profile raised by the operator (2.0.1
--   A05 upgrade) keep the previous credentials valid until the charger has
--   authenticated with the new ones (it may only take them at its next
--   reboot); then the previous ones are retired;
-- * the answer we last gave to a BootNotification, which is what a 2.0.1
--   station believes its registration is until it boots again (B02).
ALTER TABLE pgcsms.charge_points
    ADD COLUMN previous_security_profile smallint CHECK (previous_security_profile BETWEEN 0 AND 3),
    ADD COLUMN previous_password_hash text,
    ADD COLUMN boot_status text CHECK (boot_status IN ('Accepted', 'Pending', 'Rejected'));
