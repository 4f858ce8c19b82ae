-- Send windows: messages are due only inside business hours in the
-- recipient's own time zone. One configuration row, edited by cs_admin.

CREATE TABLE cs.send_window (
    singleton         boolean PRIMARY KEY DEFAULT true
        CONSTRAINT send_window_single_row CHECK (singleton),
    start_time        time NOT NULL DEFAULT '09:00',
    end_time          time NOT NULL DEFAULT '17:00',
    weekdays          integer[] NOT NULL DEFAULT '{1,2,3,4,5}'
        CONSTRAINT send_window_weekdays_valid
        CHECK (pg_catalog.cardinality(weekdays) > 0
               AND pg_catalog.array_ndims(weekdays) = 1
               AND pg_catalog.array_position(weekdays, NULL) IS NULL
               AND weekdays <@ '{1,2,3,4,5,6,7}'::integer[]),
    default_time_zone cs.time_zone NOT NULL DEFAULT 'UTC',
    CONSTRAINT send_window_start_before_end CHECK (start_time < end_time)
);

COMMENT ON TABLE cs.send_window IS 'Business hours in which e-mail is sent, applied in each recipient''s own time zone. Exactly one row; an INSERT replaces it.';
COMMENT ON COLUMN cs.send_window.singleton IS 'Always true; makes the table hold one row.';
COMMENT ON COLUMN cs.send_window.start_time IS 'Local time at which the window opens each sending day (inclusive).';
COMMENT ON COLUMN cs.send_window.end_time IS 'Local time at which the window closes (exclusive); after start_time, at most 24:00.';
COMMENT ON COLUMN cs.send_window.weekdays IS 'Sending days as ISO day numbers: 1 is Monday, 7 is Sunday.';
COMMENT ON COLUMN cs.send_window.default_time_zone IS 'Time zone of recipients whose contact and account have none.';

INSERT INTO cs.send_window DEFAULT VALUES;

-- An INSERT replaces the one row instead of failing on the key. A restore
-- first runs CREATE EXTENSION, which inserts the default row, and then
-- copies the dumped row, so the admin's configuration wins.
CREATE FUNCTION cs.send_window_replace_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE cs.send_window
    SET start_time = NEW.start_time, end_time = NEW.end_time,
        weekdays = NEW.weekdays, default_time_zone = NEW.default_time_zone
    WHERE singleton = NEW.singleton;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION cs.send_window_replace_row() IS 'Insert trigger on cs.send_window: an inserted row overwrites the existing one, which is how a restore keeps the admin''s configuration.';

CREATE TRIGGER send_window_replace_row
    BEFORE INSERT ON cs.send_window
    FOR EACH ROW EXECUTE FUNCTION cs.send_window_replace_row();

-- Walks the days from the local date of as_of onwards and returns as_of
-- itself inside a window, else the first window start after it. Window
-- bounds are local times converted to timestamptz in the zone, so their
-- UTC instants follow daylight saving time. Eight days always reach a
-- sending day, because weekdays is not empty.
CREATE FUNCTION cs.next_send_time(as_of timestamptz, zone text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    config      cs.send_window;
    local_zone  cs.time_zone;
    local_day   date;
    day_start   timestamptz;
    day_end     timestamptz;
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'as_of must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the time the message is queued, such as now().';
    END IF;
    IF NOT pg_catalog.isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite time, not %', as_of
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT * INTO config FROM cs.send_window;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'send window configuration is missing'
            USING ERRCODE = 'no_data_found',
                  DETAIL = 'cs.send_window has no row.',
                  HINT = 'Run INSERT INTO cs.send_window DEFAULT VALUES for 09:00 to 17:00, Monday to Friday, UTC.';
    END IF;

    local_zone := coalesce(zone, config.default_time_zone);
    local_day := (as_of AT TIME ZONE local_zone)::date;

    FOR day_offset IN 0 .. 7 LOOP
        IF extract(isodow FROM local_day + day_offset)::integer = ANY (config.weekdays) THEN
            day_start := ((local_day + day_offset) + config.start_time) AT TIME ZONE local_zone;
            day_end := ((local_day + day_offset) + config.end_time) AT TIME ZONE local_zone;
            IF as_of < day_end THEN
                RETURN greatest(as_of, day_start);
            END IF;
        END IF;
    END LOOP;

    RAISE EXCEPTION 'no send window found within eight days of %', as_of
        USING ERRCODE = 'internal_error';
END;
$$;

COMMENT ON FUNCTION cs.next_send_time(timestamptz, text) IS
'Returns as_of when it falls inside a send window in the time zone zone (cs.send_window.default_time_zone when NULL), else the start of the next window. A window runs from start_time inclusive to end_time exclusive, local time, on the listed ISO weekdays.';

REVOKE ALL ON FUNCTION cs.send_window_replace_row(), cs.next_send_time(timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cs.next_send_time(timestamptz, text) TO cs_admin, cs_user;

GRANT SELECT, INSERT, UPDATE ON cs.send_window TO cs_admin;
GRANT SELECT ON cs.send_window TO cs_user;

SELECT pg_catalog.pg_extension_config_dump('cs.send_window', '');
