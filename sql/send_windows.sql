-- Send windows: cs.next_send_time in the recipient's time zone, across DST
-- changes and weekends, at the window boundaries (start inclusive, end
-- exclusive), in zones far from UTC, and the configuration row.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';

-- The installed window: 09:00 to 17:00, Monday to Friday, UTC.
SELECT start_time, end_time, weekdays, default_time_zone FROM cs.send_window;

-- Shows as_of and the result in UTC and in the zone, with the local weekday.
CREATE FUNCTION pg_temp.due(as_of timestamptz, zone text)
RETURNS TABLE (as_of_local text, due_utc timestamptz, due_local text)
LANGUAGE sql AS $$
    SELECT to_char(as_of AT TIME ZONE zone, 'Dy YYYY-MM-DD HH24:MI:SS.US'),
           cs.next_send_time(as_of, zone),
           to_char(cs.next_send_time(as_of, zone) AT TIME ZONE zone, 'Dy YYYY-MM-DD HH24:MI:SS.US')
$$;

-- Boundaries in UTC on Wednesday 2025-01-08.
SELECT * FROM pg_temp.due('2025-01-08 08:59:59.999999+00', 'UTC');   -- before start
SELECT * FROM pg_temp.due('2025-01-08 09:00:00+00', 'UTC');          -- start is inside
SELECT * FROM pg_temp.due('2025-01-08 12:34:56+00', 'UTC');          -- inside
SELECT * FROM pg_temp.due('2025-01-08 16:59:59.999999+00', 'UTC');   -- last microsecond inside
SELECT * FROM pg_temp.due('2025-01-08 17:00:00+00', 'UTC');          -- end is outside: next day
SELECT * FROM pg_temp.due('2025-01-08 23:59:59+00', 'UTC');

-- Weekends: Friday after the end, Saturday and Sunday go to Monday 09:00.
SELECT * FROM pg_temp.due('2025-01-10 17:00:00+00', 'UTC');
SELECT * FROM pg_temp.due('2025-01-11 10:00:00+00', 'UTC');
SELECT * FROM pg_temp.due('2025-01-12 23:59:59+00', 'UTC');

-- The zone decides: 15:00 UTC on a Friday is 10:00 in New York (inside),
-- 16:00 in Berlin (inside) and 00:00 Saturday in Tokyo (Monday).
SELECT * FROM pg_temp.due('2025-01-10 15:00+00', 'America/New_York');
SELECT * FROM pg_temp.due('2025-01-10 15:00+00', 'Europe/Berlin');
SELECT * FROM pg_temp.due('2025-01-10 15:00+00', 'Asia/Tokyo');

-- NULL zone uses default_time_zone.
SELECT cs.next_send_time('2025-01-11 10:00+00') AS default_zone;

-- America/New_York springs forward on Sunday 2025-03-09 (02:00 EST becomes
-- 03:00 EDT). Friday evening goes to Monday 09:00 EDT, 13:00 UTC, where
-- the week before it was 14:00 UTC.
SELECT * FROM pg_temp.due('2025-02-28 22:30+00', 'America/New_York');
SELECT * FROM pg_temp.due('2025-03-07 22:30+00', 'America/New_York');
-- ... and falls back on Sunday 2025-11-02: Monday 09:00 EST is 14:00 UTC.
SELECT * FROM pg_temp.due('2025-10-31 22:30+00', 'America/New_York');
-- Europe/Berlin changes on Sunday 2025-03-30: Monday 09:00 CEST is 07:00 UTC.
SELECT * FROM pg_temp.due('2025-03-28 17:00+00', 'Europe/Berlin');

-- Far from UTC: Pacific/Kiritimati is UTC+14, Pacific/Pago_Pago UTC-11.
-- The same instant is Saturday in Kiritimati and Friday in Pago Pago.
SELECT * FROM pg_temp.due('2025-01-10 12:00+00', 'Pacific/Kiritimati');
SELECT * FROM pg_temp.due('2025-01-10 12:00+00', 'Pacific/Pago_Pago');
SELECT * FROM pg_temp.due('2025-01-09 19:00:00+00', 'Pacific/Kiritimati');  -- Friday 09:00 local: start
SELECT * FROM pg_temp.due('2025-01-11 04:00+00', 'Pacific/Pago_Pago');      -- Friday 17:00 local

-- Every day of the week, and a window that starts inside the DST gap:
-- 02:30 does not exist in New York on 2025-03-09, and PostgreSQL reads it
-- as 02:30 EST, which is 03:30 EDT.
UPDATE cs.send_window SET start_time = '02:30', end_time = '04:00', weekdays = '{1,2,3,4,5,6,7}';
SELECT * FROM pg_temp.due('2025-03-09 05:00+00', 'America/New_York');
-- On 2025-11-02, 01:00 to 02:00 happens twice in New York; a window start
-- of 01:30 is read as 01:30 EST, the second one.
UPDATE cs.send_window SET start_time = '01:30', end_time = '05:00';
SELECT * FROM pg_temp.due('2025-11-02 04:00+00', 'America/New_York');

-- A window that ends at 24:00 runs to midnight.
UPDATE cs.send_window SET start_time = '20:00', end_time = '24:00', weekdays = '{6}';
SELECT * FROM pg_temp.due('2025-01-11 23:59:59+00', 'UTC');
SELECT * FROM pg_temp.due('2025-01-12 00:00+00', 'UTC');   -- next Saturday

-- INSERT replaces the row, as a restore does.
INSERT INTO cs.send_window (start_time, end_time, weekdays, default_time_zone)
VALUES ('08:00', '18:00', '{1,2,3,4,5,6}', 'Europe/Berlin');
SELECT start_time, end_time, weekdays, default_time_zone FROM cs.send_window;

-- Invalid configurations and arguments.
UPDATE cs.send_window SET start_time = '18:00', end_time = '08:00';
UPDATE cs.send_window SET weekdays = '{}';
UPDATE cs.send_window SET weekdays = '{0,1}';
UPDATE cs.send_window SET weekdays = '{1,NULL}';
UPDATE cs.send_window SET weekdays = '{{1,2},{3,4}}';
UPDATE cs.send_window SET default_time_zone = 'Mars/Olympus';
INSERT INTO cs.send_window (singleton) VALUES (false);
SELECT cs.next_send_time('2025-01-10 12:00+00', 'EST5EDT-ish');
SELECT cs.next_send_time(NULL, 'UTC');
SELECT cs.next_send_time('infinity', 'UTC');
DELETE FROM cs.send_window;
SELECT cs.next_send_time('2025-01-10 12:00+00', 'UTC');
