-- A recharge the processor never answered (engine/grants/recharges.ts): every retry sends the
-- key of the first attempt, but a processor forgets keys (Stripe after 24 hours), after which
-- the same key could make a second payment. `first_sent_at` is when the key was first sent; a
-- recharge still unanswered a day later is not sent again: it ends 'unanswered' and
-- auto-recharge turns off ('processor_unanswered') until someone checks the processor. Its
-- payment, if it was made, is still credited once by its webhook.
ALTER TABLE recharges ADD COLUMN first_sent_at timestamptz;
ALTER TABLE recharges DROP CONSTRAINT recharges_status_check;
ALTER TABLE recharges ADD CONSTRAINT recharges_status_check
  CHECK (status IN ('pending', 'charging', 'awaiting_payment', 'succeeded', 'declined', 'skipped', 'unanswered'));
ALTER TABLE auto_recharge DROP CONSTRAINT auto_recharge_off_code_check;
ALTER TABLE auto_recharge ADD CONSTRAINT auto_recharge_off_code_check
  CHECK (off_code IN ('card_declined', 'authentication_required', 'no_payment_method', 'pack_unavailable', 'processor_unanswered'));
