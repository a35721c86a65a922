-- Auto-recharge (engine/grants/auto-recharge.ts, recharges.ts): an account's setting, and one
-- durable job row per threshold crossing.
--
-- The setting: buy `pack_id` whenever the value available falls under `threshold_micros`,
-- within the monthly caps. `off_code` and `off_message` say why it turned itself off (a
-- declined card, authentication required, no saved card, a pack no longer for sale to the
-- account); `paused_until` is the end of the
-- month whose cap was reached.
CREATE TABLE auto_recharge (
  account_id          text PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
  enabled             boolean NOT NULL,
  pack_id             bigint NOT NULL REFERENCES packs (id),
  threshold_micros    bigint NOT NULL CHECK (threshold_micros > 0),
  monthly_max_count   integer CHECK (monthly_max_count > 0),
  monthly_max_micros  bigint CHECK (monthly_max_micros > 0),
  off_code            text CHECK (off_code IN ('card_declined', 'authentication_required', 'no_payment_method', 'pack_unavailable')),
  off_message         text,
  off_at              timestamptz,
  paused_until        timestamptz,
  updated_at          timestamptz NOT NULL
);

-- The threshold while auto-recharge runs (enabled, not off, not paused), else null. It rides
-- on the account's terms, so a process that remembers the account sees, after a charge it
-- wrote, whether the account fell under it without reading anything; changing it moves the
-- terms version, so a process that remembers the old one reads again.
ALTER TABLE accounts ADD COLUMN recharge_below_micros bigint;
-- The sweep's accounts: those auto-recharge watches.
CREATE INDEX accounts_recharge_armed ON accounts (id) WHERE recharge_below_micros IS NOT NULL;

CREATE FUNCTION tollgate_recharge_armed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.terms_version := OLD.terms_version + 1;
  RETURN NEW;
END $$;
CREATE TRIGGER accounts_recharge_armed BEFORE UPDATE ON accounts FOR EACH ROW
  WHEN (OLD.recharge_below_micros IS DISTINCT FROM NEW.recharge_below_micros)
  EXECUTE FUNCTION tollgate_recharge_armed();

-- A recharge: pending (due, waiting for a worker; `run_after` delays a retry), charging (claimed
-- by a worker until `run_after`: past it, a worker that died is presumed gone and another takes
-- it), awaiting_payment (the processor answered pending: its webhook finishes it), then
-- succeeded, declined, or skipped (no longer due, or a cap reached before anything was charged).
-- Its id is the processor's idempotency key (`recharge:<id>`), fixed with the amount at the first
-- attempt, so every retry asks for the same payment. At most one is in flight per account.
CREATE TABLE recharges (
  id            bigserial PRIMARY KEY,
  account_id    text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  status        text NOT NULL CHECK (status IN ('pending', 'charging', 'awaiting_payment', 'succeeded', 'declined', 'skipped')),
  processor     text,
  pack_id       bigint REFERENCES packs (id),
  amount_cents  bigint CHECK (amount_cents > 0),
  debt_cents    bigint CHECK (debt_cents >= 0),
  payment_ref   text,
  attempts      int NOT NULL DEFAULT 0,
  run_after     timestamptz NOT NULL,
  reason        text,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX recharges_one_in_flight ON recharges (account_id) WHERE status IN ('pending', 'charging', 'awaiting_payment');
CREATE INDEX recharges_runnable ON recharges (run_after) WHERE status IN ('pending', 'charging');
CREATE INDEX recharges_account ON recharges (account_id, id DESC);
