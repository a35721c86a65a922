-- A paid plan at a real processor runs on the periods the processor says are paid, not on the
-- clock (grants/subscriptions.ts, terms.ts):
--   paid_through      the end of the last period paid; the period in force is
--                     [plan_anchor_at, paid_through). Past it, and until the next is paid,
--                     the default plan's terms apply. Null: the clock runs the periods (the
--                     fake processor, a free plan).
--   past_due_through  the end of a period whose payment failed; past due while it is later
--                     than paid_through.
--   past_due_at       when that payment first failed: the grace is counted from it.
ALTER TABLE accounts ADD COLUMN paid_through timestamptz;
ALTER TABLE accounts ADD COLUMN past_due_through timestamptz;
ALTER TABLE accounts ADD COLUMN past_due_at timestamptz;

-- How long a past-due account keeps the default plan's terms before the gate refuses it:
-- 0 refuses at once.
ALTER TABLE settings ADD COLUMN past_due_grace_days integer NOT NULL DEFAULT 0 CHECK (past_due_grace_days BETWEEN 0 AND 90);

-- They are terms: a process that remembers the account reads again when they change.
CREATE TRIGGER accounts_paid_period_changed BEFORE UPDATE ON accounts FOR EACH ROW
  WHEN ((OLD.paid_through, OLD.past_due_through, OLD.past_due_at) IS DISTINCT FROM (NEW.paid_through, NEW.past_due_through, NEW.past_due_at))
  EXECUTE FUNCTION tollgate_account_terms_changed();
