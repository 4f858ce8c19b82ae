SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';
select * from cs.phase order by phase_id;
