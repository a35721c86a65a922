-- Subscription claims: a cancel or a plan change asks the processor outside any transaction, so
-- it does not hold the account's gate mutex while the processor answers. Its claim on the
-- subscription it changes, taken under that mutex before it asks and given up once its answer is
-- applied, keeps a second change of that subscription from reaching the processor in between
-- (grants/subscription-claims.ts). A call that failed without knowing what the processor did
-- keeps its claim for a retry of the same request (request_hash) under its idempotency key. A
-- claim lapses at held_until.
CREATE TABLE subscription_claims (
  account_id        text PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  token             text NOT NULL,
  operation         text NOT NULL,
  idempotency_key   text,
  request_hash      text,
  subscription_ref  text,
  kept              boolean NOT NULL DEFAULT false,
  held_until        timestamptz NOT NULL
);
