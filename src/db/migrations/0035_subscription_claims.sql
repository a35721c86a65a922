-- Subscription claims: a cancel or a plan change asks the processor outside any transaction, so
-- it does not hold the account's gate mutex while the processor answers. Its claim, taken under
-- that mutex before it asks and given up once its answer is applied, keeps a second change of the
-- same subscription from reaching the processor in between (grants/subscription-claims.ts). A
-- claim whose process died lapses at held_until.
CREATE TABLE subscription_claims (
  account_id  text PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  token       text NOT NULL,
  operation   text NOT NULL,
  held_until  timestamptz NOT NULL
);
