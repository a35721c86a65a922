-- The gate's hot path (authorize, settle, record) writes holds, usage events and ledger entries
-- in set-based statements that take every reference from rows they guard or write themselves:
-- the account from the version guard's RETURNING, buckets from the account's own pool, the
-- hold from the account's own open holds. Their foreign keys re-checked that, row by row,
-- through a trigger and a share lock each, for a quarter of those statements' server time;
-- and they could only say that a referenced row exists, not that it belongs to the same
-- account. reconcile() checks that (see reconcile.ts). Accounts, buckets, holds and usage
-- events are never deleted.
ALTER TABLE holds DROP CONSTRAINT holds_account_id_fkey;
ALTER TABLE usage_events DROP CONSTRAINT usage_events_account_id_fkey;
ALTER TABLE usage_events DROP CONSTRAINT usage_events_hold_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_account_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_bucket_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_usage_event_id_fkey;

-- A bucket's debit changes only remaining_micros. With that column out of every index (the
-- old partial index's predicate named it), the debit is a heap-only update: no new index
-- entries for each draw.
DROP INDEX buckets_usable;
CREATE INDEX buckets_account ON buckets (account_id);

-- Entries are found by account (reconcile) and by usage event (refunds, replays); by bucket,
-- only within an account.
DROP INDEX ledger_entries_bucket;
