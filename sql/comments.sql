-- Every object that users see has COMMENT ON text.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_success CASCADE;
CREATE EXTENSION pg_success;
RESET client_min_messages;

-- Tables and views without a comment.
SELECT c.relname
FROM pg_class AS c
WHERE c.relnamespace = 'cs'::regnamespace
  AND c.relkind IN ('r', 'v', 'm')
  AND obj_description(c.oid, 'pg_class') IS NULL;

-- Columns without a comment.
SELECT c.relname, a.attname
FROM pg_class AS c
JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = 'cs'::regnamespace
  AND c.relkind IN ('r', 'v', 'm')
  AND col_description(c.oid, a.attnum) IS NULL;

-- Functions without a comment.
SELECT p.oid::regprocedure
FROM pg_proc AS p
WHERE p.pronamespace = 'cs'::regnamespace
  AND obj_description(p.oid, 'pg_proc') IS NULL;

-- Domains without a comment.
SELECT t.typname
FROM pg_type AS t
WHERE t.typnamespace = 'cs'::regnamespace AND t.typtype = 'd'
  AND obj_description(t.oid, 'pg_type') IS NULL;

-- The extension's tables are registered for pg_dump, except the worker's
-- runtime state, which belongs to the database it was recorded in.
SELECT c.relname
FROM pg_class AS c
WHERE c.relnamespace = 'cs'::regnamespace AND c.relkind IN ('r', 'S')
  AND c.relname <> 'worker_state'
  AND c.oid <> ALL ((SELECT extconfig FROM pg_extension WHERE extname = 'pg_success')::oid[])
ORDER BY 1;
