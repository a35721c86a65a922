-- The money view (engine/reads/money.ts) reads payments over a range of days, and the refunds and
-- disputes applied in it, across every account. Neither table had an index that starts with the
-- time: each view read every payment and every refund ever recorded, whatever the range. A B-tree
-- on each: a payment or a refund is one insert per purchase, nothing on the usage path.
CREATE INDEX payments_created_at ON payments (created_at);
CREATE INDEX payment_refunds_applied_at ON payment_refunds (applied_at) WHERE status = 'applied';
