-- Gives every demo account one primary contact, because the Telco sample
-- has no contact data. Run after demo/load_telco.sql. docs/demo.md
-- describes the rules.
--
-- The names are invented and derived from the customer id (such as
-- 7590-VHVEG): the four digits select the first name and the first letter
-- selects the last name, so every run produces the same contacts. The
-- address is the lower-case customer id at customers.example.com.
--
-- Customers with PaperlessBilling = No in the CSV (the attribute
-- paperless_billing is false) opted out of all e-mail, so cs.queue_email
-- queues their messages as suppressed.

SET TIME ZONE 'UTC';

\echo 'Adding one primary contact per account ...'

INSERT INTO cs.contact (account_id, name, email, time_zone, is_primary, opted_out_all)
SELECT a.account_id,
       -- 20 first names, chosen by the digits modulo 20. Two are non-ASCII,
       -- so some subjects and display names need RFC 2047 encoding.
       (ARRAY['Ava', 'Ben', 'Chloe', 'David', 'Emma', 'Felix', 'Grace', 'Hugo',
              'Isla', 'José', 'Kai', 'Lena', 'Mateo', 'Nora', 'Omar', 'Priya',
              'Quinn', 'Rosa', 'Sam', 'Zoë'])[substr(a.external_id, 1, 4)::integer % 20 + 1]
       || ' ' ||
       -- 26 last names, one per letter A to Z of the first letter after
       -- the dash.
       (ARRAY['Adams', 'Brooks', 'Carter', 'Diaz', 'Evans', 'Foster', 'Garcia',
              'Hughes', 'Ito', 'Jensen', 'Kim', 'Lopez', 'Morgan', 'Nakamura',
              'Olsen', 'Patel', 'Quinlan', 'Reyes', 'Silva', 'Turner', 'Usman',
              'Varga', 'Walsh', 'Xu', 'Young', 'Zimmer'])[ascii(substr(a.external_id, 6, 1)) - ascii('A') + 1],
       lower(a.external_id) || '@customers.example.com',
       a.time_zone,
       true,
       NOT (a.attributes ->> 'paperless_billing')::boolean
FROM cs.account AS a
ORDER BY a.account_id;

SELECT count(*) AS contacts,
       count(*) FILTER (WHERE c.opted_out_all) AS opted_out_all,
       count(*) FILTER (WHERE c.opted_out_all AND a.status = 'active') AS opted_out_active_accounts
FROM cs.contact AS c
JOIN cs.account AS a ON a.account_id = c.account_id;
