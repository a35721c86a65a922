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

-- Each account's two newest windows of each kind, in one pass over its balance row.
UPDATE account_balances b SET
  day_starts_at = w.day_starts_at, day_value_micros = w.day_value_micros, day_tokens = w.day_tokens,
  previous_day_starts_at = w.previous_day_starts_at, previous_day_value_micros = w.previous_day_value_micros,
  previous_day_tokens = w.previous_day_tokens,
  month_starts_at = w.month_starts_at, month_value_micros = w.month_value_micros, month_tokens = w.month_tokens,
  previous_month_starts_at = w.previous_month_starts_at, previous_month_value_micros = w.previous_month_value_micros,
  previous_month_tokens = w.previous_month_tokens,
  usage_at = (SELECT max(occurred_at) FROM usage_events e WHERE e.account_id = b.account_id)
FROM (
  SELECT account_id,
    max(starts_at) FILTER (WHERE kind_age = 'day 1') AS day_starts_at,
    coalesce(max(value_micros) FILTER (WHERE kind_age = 'day 1'), 0) AS day_value_micros,
    coalesce(max(tokens) FILTER (WHERE kind_age = 'day 1'), 0) AS day_tokens,
    max(starts_at) FILTER (WHERE kind_age = 'day 2') AS previous_day_starts_at,
    coalesce(max(value_micros) FILTER (WHERE kind_age = 'day 2'), 0) AS previous_day_value_micros,
    coalesce(max(tokens) FILTER (WHERE kind_age = 'day 2'), 0) AS previous_day_tokens,
    max(starts_at) FILTER (WHERE kind_age = 'month 1') AS month_starts_at,
    coalesce(max(value_micros) FILTER (WHERE kind_age = 'month 1'), 0) AS month_value_micros,
    coalesce(max(tokens) FILTER (WHERE kind_age = 'month 1'), 0) AS month_tokens,
    max(starts_at) FILTER (WHERE kind_age = 'month 2') AS previous_month_starts_at,
    coalesce(max(value_micros) FILTER (WHERE kind_age = 'month 2'), 0) AS previous_month_value_micros,
    coalesce(max(tokens) FILTER (WHERE kind_age = 'month 2'), 0) AS previous_month_tokens
  FROM (
    SELECT *, window_kind || ' ' || row_number() OVER (PARTITION BY account_id, window_kind ORDER BY starts_at DESC) AS kind_age
    FROM usage_windows
  ) ranked
  GROUP BY account_id
) w
WHERE w.account_id = b.account_id;

DROP TABLE usage_windows;

-- Every lookup of ledger entries by usage event knows the event's account: one index serves
-- those and the lookups by account, and a charge's entry adds one index entry fewer.
DROP INDEX ledger_entries_account;
DROP INDEX ledger_entries_usage_event;
CREATE INDEX ledger_entries_account_event ON ledger_entries (account_id, usage_event_id);
