-- A limit's usage counters ride on the row every charge already updates. Each charge upserted
-- two rows of usage_windows (the day's and the period's), a fifth of the charge statement's
-- server time; now the guard's update of account_balances carries them. Only the current
-- window of each kind is kept: usage by day or month for any other time comes from the usage
-- events, as it always did. `usage_at` is the newest usage counted: a charge for another window
-- replaces the counters only if it is at least as new (core/usage-windows.ts).
ALTER TABLE account_balances
  ADD COLUMN day_starts_at        timestamptz,
  ADD COLUMN day_value_micros     bigint NOT NULL DEFAULT 0,
  ADD COLUMN day_tokens           bigint NOT NULL DEFAULT 0,
  ADD COLUMN month_starts_at      timestamptz,
  ADD COLUMN month_value_micros   bigint NOT NULL DEFAULT 0,
  ADD COLUMN month_tokens         bigint NOT NULL DEFAULT 0,
  ADD COLUMN usage_at             timestamptz;

UPDATE account_balances b SET day_starts_at = w.starts_at, day_value_micros = w.value_micros, day_tokens = w.tokens
FROM (SELECT DISTINCT ON (account_id) * FROM usage_windows WHERE window_kind = 'day' ORDER BY account_id, starts_at DESC) w
WHERE w.account_id = b.account_id;

UPDATE account_balances b SET month_starts_at = w.starts_at, month_value_micros = w.value_micros, month_tokens = w.tokens
FROM (SELECT DISTINCT ON (account_id) * FROM usage_windows WHERE window_kind = 'month' ORDER BY account_id, starts_at DESC) w
WHERE w.account_id = b.account_id;

UPDATE account_balances b SET usage_at = (SELECT max(occurred_at) FROM usage_events e WHERE e.account_id = b.account_id);

DROP TABLE usage_windows;

-- Every lookup of ledger entries by usage event knows the event's account: one index serves
-- those and the lookups by account, and a charge's entry adds one index entry fewer.
DROP INDEX ledger_entries_account;
DROP INDEX ledger_entries_usage_event;
CREATE INDEX ledger_entries_account_event ON ledger_entries (account_id, usage_event_id);
