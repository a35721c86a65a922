-- A limit's usage counters ride on the row every charge already updates. Each charge upserted
-- two rows of usage_windows (the day's and the period's), a fifth of the charge statement's
-- server time; now the version guard's update of account_balances writes them, as counted in
-- TypeScript from the state the guard vouches for (core/usage-windows.ts). Kept: the current
-- and the previous window of each kind, each a start (null: none yet), a value and tokens, and
-- the time of the newest usage counted. Usage by day or month for any other time comes from the
-- usage events, as it always did.
ALTER TABLE account_balances
  ADD COLUMN day_starts_at                 timestamptz,
  ADD COLUMN day_value_micros              bigint NOT NULL DEFAULT 0,
  ADD COLUMN day_tokens                    bigint NOT NULL DEFAULT 0,
  ADD COLUMN previous_day_starts_at        timestamptz,
  ADD COLUMN previous_day_value_micros     bigint NOT NULL DEFAULT 0,
  ADD COLUMN previous_day_tokens           bigint NOT NULL DEFAULT 0,
  ADD COLUMN month_starts_at               timestamptz,
  ADD COLUMN month_value_micros            bigint NOT NULL DEFAULT 0,
  ADD COLUMN month_tokens                  bigint NOT NULL DEFAULT 0,
  ADD COLUMN previous_month_starts_at      timestamptz,
  ADD COLUMN previous_month_value_micros   bigint NOT NULL DEFAULT 0,
  ADD COLUMN previous_month_tokens         bigint NOT NULL DEFAULT 0,
  ADD COLUMN usage_at                      timestamptz;

CREATE TEMPORARY TABLE newest_windows ON COMMIT DROP AS
  SELECT *, row_number() OVER (PARTITION BY account_id, window_kind ORDER BY starts_at DESC) AS age FROM usage_windows;

UPDATE account_balances b SET day_starts_at = w.starts_at, day_value_micros = w.value_micros, day_tokens = w.tokens
FROM newest_windows w WHERE w.account_id = b.account_id AND w.window_kind = 'day' AND w.age = 1;
UPDATE account_balances b SET previous_day_starts_at = w.starts_at, previous_day_value_micros = w.value_micros, previous_day_tokens = w.tokens
FROM newest_windows w WHERE w.account_id = b.account_id AND w.window_kind = 'day' AND w.age = 2;
UPDATE account_balances b SET month_starts_at = w.starts_at, month_value_micros = w.value_micros, month_tokens = w.tokens
FROM newest_windows w WHERE w.account_id = b.account_id AND w.window_kind = 'month' AND w.age = 1;
UPDATE account_balances b SET previous_month_starts_at = w.starts_at, previous_month_value_micros = w.value_micros, previous_month_tokens = w.tokens
FROM newest_windows w WHERE w.account_id = b.account_id AND w.window_kind = 'month' AND w.age = 2;
UPDATE account_balances b SET usage_at = (SELECT max(occurred_at) FROM usage_events e WHERE e.account_id = b.account_id)
WHERE EXISTS (SELECT 1 FROM newest_windows w WHERE w.account_id = b.account_id);

DROP TABLE usage_windows;

-- Every lookup of ledger entries by usage event knows the event's account: one index serves
-- those and the lookups by account, and a charge's entry adds one index entry fewer.
DROP INDEX ledger_entries_account;
DROP INDEX ledger_entries_usage_event;
CREATE INDEX ledger_entries_account_event ON ledger_entries (account_id, usage_event_id);
