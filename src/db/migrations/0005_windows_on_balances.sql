-- A limit's usage counters ride on the row every charge already updates. Each charge upserted
-- two rows of usage_windows (the day's and the period's), a fifth of the charge statement's
-- server time; now the version guard's update of account_balances writes them, as counted in
-- TypeScript from the state the guard vouches for (core/usage-windows.ts). The counters keep the
-- current and the previous window of each kind:
--   {"day": {"current": {"startsAt", "valueMicros", "tokens"} | null, "previous": … | null},
--    "month": {…}, "usageAt": the newest usage counted}
-- Usage by day or month for any other time comes from the usage events, as it always did.
ALTER TABLE account_balances ADD COLUMN usage_windows jsonb;

UPDATE account_balances b SET usage_windows = jsonb_build_object(
  'day', (SELECT jsonb_build_object('current', w[1], 'previous', w[2]) FROM (
    SELECT array_agg(jsonb_build_object('startsAt', starts_at, 'valueMicros', value_micros, 'tokens', tokens) ORDER BY starts_at DESC) AS w
    FROM usage_windows WHERE account_id = b.account_id AND window_kind = 'day') d),
  'month', (SELECT jsonb_build_object('current', w[1], 'previous', w[2]) FROM (
    SELECT array_agg(jsonb_build_object('startsAt', starts_at, 'valueMicros', value_micros, 'tokens', tokens) ORDER BY starts_at DESC) AS w
    FROM usage_windows WHERE account_id = b.account_id AND window_kind = 'month') m),
  'usageAt', (SELECT max(occurred_at) FROM usage_events WHERE account_id = b.account_id))
WHERE EXISTS (SELECT 1 FROM usage_windows WHERE account_id = b.account_id);

DROP TABLE usage_windows;

-- Every lookup of ledger entries by usage event knows the event's account: one index serves
-- those and the lookups by account, and a charge's entry adds one index entry fewer.
DROP INDEX ledger_entries_account;
DROP INDEX ledger_entries_usage_event;
CREATE INDEX ledger_entries_account_event ON ledger_entries (account_id, usage_event_id);
