-- PostgreSQL grants EXECUTE on every new function and procedure to PUBLIC,
-- and the files after 08_security.sql create more. This file runs last
-- before the dump registrations. It revokes the grant from all of them and
-- grants it again only to the domain checks, which run for anyone who
-- writes a domain column. Trigger functions need no EXECUTE grant to fire.

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA cs FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA cs FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cs.check_time_zone(text), cs.check_email(text) TO PUBLIC;
