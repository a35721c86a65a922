-- The idempotency key of a call that moves money (refund, credit, purchase, subscription
-- change, cancel, and what payments add): inserted in the transaction of the effect itself, so
-- a retry after any crash finds the key exactly when the effect was committed, and answers with
-- the first call's result. Kept as long as the ledger: they are part of its history.
CREATE TABLE effect_keys (
  key text PRIMARY KEY,
  operation text NOT NULL,
  request_hash text NOT NULL,
  account_id text,
  result jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX effect_keys_account ON effect_keys (account_id);
