-- Expired value leaves its bucket through the ledger: an 'expiry' entry takes what was left
-- (billing/expiry.ts), so every micro-dollar granted ends spent, refunded, owed or expired.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check
  CHECK (kind IN ('grant', 'usage', 'refund', 'debt_payment', 'adjustment', 'expiry'));
