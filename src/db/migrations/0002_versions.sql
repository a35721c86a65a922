-- Version counters for optimistic writes: a call reads an account in one statement without
-- locking, then writes only if the version it read is still current.
-- gate_version moves with every hold placed and every plan change;
-- ledger_version moves with every movement of value and every hold closed.
ALTER TABLE accounts ADD COLUMN gate_version bigint NOT NULL DEFAULT 0;
ALTER TABLE account_balances ADD COLUMN ledger_version bigint NOT NULL DEFAULT 0;
CREATE INDEX buckets_account_allowance ON buckets (account_id, created_at) WHERE source = 'allowance';
