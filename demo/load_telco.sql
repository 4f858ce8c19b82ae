-- Loads the Telco customer churn sample (data/telco) as accounts and
-- contracts, moves the accounts along the journey as of :as_of, and marks
-- the customers the sample lists as churned. docs/demo.md describes the
-- mapping of every CSV column.
--
-- Variables (psql -v): as_of, the fixed time the demo runs at, and
-- csv_path, the absolute path of Telco-Customer-Churn.csv. Run after
-- demo/team.sql, because the insert trigger assigns owners from the team.

-- Day and month arithmetic, the ::date casts and the printed times use UTC.
SET TIME ZONE 'UTC';

-- One row per CSV line, in file order (csv_row). TotalCharges stays text
-- because it is a single space for the 11 customers with tenure 0.
CREATE TEMP TABLE telco_staging (
    csv_row           bigint GENERATED ALWAYS AS IDENTITY,
    customer_id       text NOT NULL,
    gender            text NOT NULL,
    senior_citizen    integer NOT NULL,
    partner           text NOT NULL,
    dependents        text NOT NULL,
    tenure            integer NOT NULL,
    phone_service     text NOT NULL,
    multiple_lines    text NOT NULL,
    internet_service  text NOT NULL,
    online_security   text NOT NULL,
    online_backup     text NOT NULL,
    device_protection text NOT NULL,
    tech_support      text NOT NULL,
    streaming_tv      text NOT NULL,
    streaming_movies  text NOT NULL,
    contract          text NOT NULL,
    paperless_billing text NOT NULL,
    payment_method    text NOT NULL,
    monthly_charges   numeric(8, 2) NOT NULL,
    total_charges     text NOT NULL,
    churn             text NOT NULL
);

-- psql does not expand variables inside a \copy line, so the command is
-- assembled in a variable and then run.
\set copy_command '\\copy telco_staging (customer_id, gender, senior_citizen, partner, dependents, tenure, phone_service, multiple_lines, internet_service, online_security, online_backup, device_protection, tech_support, streaming_tv, streaming_movies, contract, paperless_billing, payment_method, monthly_charges, total_charges, churn) FROM ' :'csv_path' ' WITH (FORMAT csv, HEADER true)'
:copy_command

-- Derived values per customer, shared by the account and contract inserts.
-- term_months is NULL for an unknown Contract value, so the contract insert
-- then fails on the NOT NULL constraints of cs.contract.
CREATE TEMP VIEW telco_mapped AS
SELECT s.*,
       CASE s.contract
           WHEN 'Month-to-month' THEN 'month-to-month'
           WHEN 'One year' THEN 'one-year'
           WHEN 'Two year' THEN 'two-year'
       END AS contract_key,
       CASE s.internet_service
           WHEN 'Fiber optic' THEN 'fiber'
           WHEN 'DSL' THEN 'dsl'
           WHEN 'No' THEN 'none'
       END AS internet_key,
       CASE s.contract
           WHEN 'Month-to-month' THEN 1
           WHEN 'One year' THEN 12
           WHEN 'Two year' THEN 24
       END AS term_months,
       CASE
           WHEN s.monthly_charges < 35 THEN 'basic'
           WHEN s.monthly_charges < 70 THEN 'standard'
           WHEN s.monthly_charges < 90 THEN 'plus'
           ELSE 'premium'
       END AS tier,
       -- Tenure 0 means the customer joined less than a month before as_of.
       CASE
           WHEN s.tenure = 0 THEN :'as_of'::timestamptz - interval '7 days'
           ELSE :'as_of'::timestamptz - make_interval(months => s.tenure)
       END AS created_at,
       -- One license per subscribed service: phone, a second line,
       -- internet, and each of the six add-ons.
       (s.phone_service = 'Yes')::integer
           + (s.multiple_lines = 'Yes')::integer
           + (s.internet_service <> 'No')::integer
           + (s.online_security = 'Yes')::integer
           + (s.online_backup = 'Yes')::integer
           + (s.device_protection = 'Yes')::integer
           + (s.tech_support = 'Yes')::integer
           + (s.streaming_tv = 'Yes')::integer
           + (s.streaming_movies = 'Yes')::integer AS licenses
FROM telco_staging AS s;

\echo 'Loading accounts (owners come from the insert trigger) ...'

-- phase_id is left out, so the insert trigger places each account in the
-- default phase, entered at created_at, and assigns an owner.
INSERT INTO cs.account (external_id, name, segment, category, tier, time_zone,
                        status, created_at, attributes)
SELECT m.customer_id,
       'Customer ' || m.customer_id,
       m.contract_key || '/' || m.internet_key,
       m.internet_service,
       m.tier,
       'America/Los_Angeles',
       'active',
       m.created_at,
       jsonb_build_object(
           'gender', m.gender,
           'senior_citizen', m.senior_citizen = 1,
           'partner', m.partner = 'Yes',
           'dependents', m.dependents = 'Yes',
           'tenure_months', m.tenure,
           'phone_service', m.phone_service = 'Yes',
           'multiple_lines', m.multiple_lines,
           'online_security', m.online_security,
           'online_backup', m.online_backup,
           'device_protection', m.device_protection,
           'tech_support', m.tech_support,
           'streaming_tv', m.streaming_tv,
           'streaming_movies', m.streaming_movies,
           'paperless_billing', m.paperless_billing = 'Yes',
           'payment_method', m.payment_method,
           'total_charges', CASE WHEN btrim(m.total_charges) = '' THEN NULL
                                 ELSE m.total_charges::numeric END)
FROM telco_mapped AS m
ORDER BY m.csv_row;

-- The current term starts at created_at plus the whole terms completed
-- since then, so start_date <= as_of < end_date. Month-to-month contracts
-- renew every month and are the only ones that renew automatically.
INSERT INTO cs.contract (account_id, start_date, end_date, arr, licenses,
                         term_months, auto_renew)
SELECT a.account_id,
       term.start_date,
       (term.start_date + make_interval(months => m.term_months))::date,
       m.monthly_charges * 12,
       m.licenses,
       m.term_months,
       m.term_months = 1
FROM telco_mapped AS m
JOIN cs.account AS a ON a.external_id = m.customer_id
CROSS JOIN LATERAL (
    SELECT (m.created_at
            + make_interval(months => (m.tenure / m.term_months) * m.term_months))::date
           AS start_date
) AS term
ORDER BY a.account_id;

-- Without statistics, the owner assignment below plans its per-account ARR
-- look-up as a scan of every active contract per account. For the 7,032
-- accounts that the transitions move, EXPLAIN ANALYZE measured about 2 s
-- for that query without statistics and 50 ms with them.
ANALYZE cs.account, cs.contract;

\echo 'Running phase transitions as of' :as_of
SELECT cs.run_phase_transitions(:'as_of') AS accounts_moved;

\echo 'Marking the customers with Churn = Yes as churned ...'

-- The status change moves each account to the churn phase, entered at
-- churned_at, and the update trigger assigns a renewal manager.
UPDATE cs.account AS a
SET status = 'churned',
    churned_at = :'as_of'
FROM telco_staging AS s
WHERE s.customer_id = a.external_id
  AND s.churn = 'Yes';

-- A churned customer no longer pays, so its contract is not active ARR.
UPDATE cs.contract AS c
SET status = 'churned'
FROM cs.account AS a
WHERE a.account_id = c.account_id
  AND a.status = 'churned'
  AND c.status = 'active';

SELECT count(*) AS staged_rows,
       count(*) FILTER (WHERE s.churn = 'Yes') AS churned_in_csv,
       count(*) FILTER (WHERE btrim(s.total_charges) = '') AS blank_total_charges
FROM telco_staging AS s;
