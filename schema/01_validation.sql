-- Input validation: domains for e-mail addresses and time zones. The checks
-- are C functions that raise an error naming the rejected value and the fix,
-- so that a failed load reports which value was wrong.

CREATE FUNCTION cs.check_time_zone(zone text)
RETURNS boolean
LANGUAGE c STRICT STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'cs_check_time_zone';

COMMENT ON FUNCTION cs.check_time_zone(text) IS
'Returns true when the argument is a time zone name that PostgreSQL knows (see pg_timezone_names); raises invalid_parameter_value otherwise.';

CREATE FUNCTION cs.check_email(address text)
RETURNS boolean
LANGUAGE c STRICT IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'cs_check_email';

COMMENT ON FUNCTION cs.check_email(text) IS
'Returns true when the argument is a plausible e-mail address (one @, a non-empty local part, a dotted domain, no spaces, at most 254 characters); raises invalid_parameter_value otherwise.';

CREATE DOMAIN cs.time_zone AS text
    CONSTRAINT time_zone_known CHECK (cs.check_time_zone(VALUE));

COMMENT ON DOMAIN cs.time_zone IS
'A time zone name known to PostgreSQL, such as Europe/Berlin or America/New_York.';

CREATE DOMAIN cs.email AS text
    CONSTRAINT email_valid CHECK (cs.check_email(VALUE));

COMMENT ON DOMAIN cs.email IS
'An e-mail address with one @ and a dotted domain.';

