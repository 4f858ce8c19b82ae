-- Demo team: invented people who own the Telco demo accounts. Loaded before
-- the accounts, because the insert trigger assigns owners as accounts arrive.
--
-- The CSMs split the book by the demo's segments (contract/internet, see
-- docs/demo.md). Sara Lindqvist serves every segment but is capped at 400
-- accounts, and Daniel Okafor's cap of 1,500 is smaller than the two-year
-- book, so some two-year accounts stay without an owner and show up in
-- cs.unassigned_accounts.

INSERT INTO cs.team_member (name, email, role_name, max_accounts, segments, time_zone) VALUES
    ('Alex Moreno', 'alex.moreno@example.com', 'onboarding_specialist', NULL, NULL, 'America/Los_Angeles'),
    ('Jordan Blake', 'jordan.blake@example.com', 'onboarding_specialist', NULL, NULL, 'America/Denver'),
    ('Priya Raman', 'priya.raman@example.com', 'csm', NULL,
        ARRAY['month-to-month/fiber', 'month-to-month/dsl', 'month-to-month/none'], 'America/Los_Angeles'),
    ('Tomas Ortega', 'tomas.ortega@example.com', 'csm', NULL,
        ARRAY['month-to-month/fiber', 'month-to-month/dsl', 'month-to-month/none'], 'America/Chicago'),
    ('Mei Chen', 'mei.chen@example.com', 'csm', NULL,
        ARRAY['one-year/fiber', 'one-year/dsl', 'one-year/none'], 'America/Los_Angeles'),
    ('Daniel Okafor', 'daniel.okafor@example.com', 'csm', 1500,
        ARRAY['two-year/fiber', 'two-year/dsl', 'two-year/none'], 'America/New_York'),
    ('Sara Lindqvist', 'sara.lindqvist@example.com', 'csm', 400, NULL, 'America/Los_Angeles'),
    ('Noah Fischer', 'noah.fischer@example.com', 'renewal_manager', NULL, NULL, 'America/Chicago'),
    ('Grace Adeyemi', 'grace.adeyemi@example.com', 'renewal_manager', NULL, NULL, 'America/Los_Angeles'),
    ('Elena Petrova', 'elena.petrova@example.com', 'cs_lead', NULL, NULL, 'America/Los_Angeles');
