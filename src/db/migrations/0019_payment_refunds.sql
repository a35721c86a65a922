-- Refunds and disputes of processor payments (engine/grants/payment-refunds.ts).
--
-- One row per refund, dispute or dispute won, unique per processor and the processor's id of it,
-- so whoever tells of it (the refund call's answer, its webhook, a second event about it) applies
-- it once. A refund told before its payment is parked (no payment yet, nothing moved) and applied
-- when the payment is recorded. What it moved is kept beside it: the unused value removed from
-- the payment's bucket, and the share of value already used, owed (debt) or written off.
CREATE TABLE payment_refunds (
  id                 bigserial PRIMARY KEY,
  processor          text NOT NULL,
  reference          text NOT NULL,
  payment_ref        text NOT NULL,
  kind               text NOT NULL CHECK (kind IN ('refund', 'dispute', 'dispute_won')),
  -- As the processor told it; what applied is at most what was left to refund.
  amount_cents       bigint NOT NULL CHECK (amount_cents >= 0),
  status             text NOT NULL CHECK (status IN ('parked', 'applied')),
  payment_id         bigint REFERENCES payments (id),
  account_id         text REFERENCES accounts (id),
  applied_cents      bigint NOT NULL DEFAULT 0 CHECK (applied_cents >= 0),
  bucket_id          bigint REFERENCES buckets (id),
  share_micros       bigint NOT NULL DEFAULT 0 CHECK (share_micros >= 0),
  removed_micros     bigint NOT NULL DEFAULT 0 CHECK (removed_micros >= 0),
  used_micros        bigint NOT NULL DEFAULT 0 CHECK (used_micros >= 0),
  used_value         text CHECK (used_value IN ('debt', 'write_off')),
  created_at         timestamptz NOT NULL,
  applied_at         timestamptz,
  UNIQUE (processor, reference)
);
CREATE INDEX payment_refunds_parked ON payment_refunds (processor, payment_ref) WHERE status = 'parked';
CREATE INDEX payment_refunds_payment ON payment_refunds (payment_id);

ALTER TABLE payments ADD COLUMN refunded_cents bigint NOT NULL DEFAULT 0 CHECK (refunded_cents >= 0 AND refunded_cents <= amount_cents);
ALTER TABLE payments ADD COLUMN disputed_at timestamptz;
CREATE INDEX payments_account ON payments (account_id, created_at DESC);

-- An account that disputed a payment is flagged, from the first dispute on.
ALTER TABLE accounts ADD COLUMN disputed_at timestamptz;

-- What becomes of the value of a refunded pack that was used already: owed (debt, which the
-- next purchase pays) or written off.
ALTER TABLE settings ADD COLUMN refund_used_value text NOT NULL DEFAULT 'debt' CHECK (refund_used_value IN ('debt', 'write_off'));

-- Every movement a refund makes is a ledger entry naming its payment.
ALTER TABLE ledger_entries ADD COLUMN payment_id bigint;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
  CHECK (kind IN ('grant', 'usage', 'refund', 'debt_payment', 'adjustment', 'expiry', 'payment_refund'));
