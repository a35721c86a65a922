-- A subscription whose periods the clock runs (the fake processor's) is paid as each period
-- begins, whether or not the account calls: `renews_at` is the start of the next period whose
-- payment is still to be recorded, and any process records it then (engine/grants/clock-payments.ts).
-- Null for a subscription a processor renews (its webhook tells), and for one that has ended.
ALTER TABLE subscriptions ADD COLUMN renews_at timestamptz;
CREATE INDEX subscriptions_renewing ON subscriptions (renews_at) WHERE renews_at IS NOT NULL;
-- Those the clock runs now: the period they are in is recorded at the next run, if it is not yet.
UPDATE subscriptions s SET renews_at = now()
FROM accounts a WHERE a.id = s.account_id AND s.status = 'active' AND a.paid_through IS NULL;
