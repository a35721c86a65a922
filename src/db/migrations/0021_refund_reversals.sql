-- Refunds that failed after they succeeded (engine/grants/refund-reversals.ts).
--
-- A refund the processor could not deliver (a card closed, an account gone) or canceled gives
-- back what it took, once: its row becomes 'reversed'. A reversal told before its refund is
-- recorded as a reversed row, so the refund, told later, finds it and does nothing.
ALTER TABLE payment_refunds DROP CONSTRAINT payment_refunds_status_check;
ALTER TABLE payment_refunds ADD CONSTRAINT payment_refunds_status_check CHECK (status IN ('parked', 'applied', 'reversed'));
ALTER TABLE payment_refunds ADD COLUMN reversed_at timestamptz;
