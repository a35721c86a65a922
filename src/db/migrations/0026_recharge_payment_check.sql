-- A recharge the processor answered pending waits for its webhook; when that is late, any
-- process asks the processor what became of the payment (engine/grants/recharges.ts), at
-- `run_after`, so the index of recharges to run takes those too. One still not settled after
-- a day (a week while the processor says it is processing) ends 'unanswered', as in 0025.
DROP INDEX recharges_runnable;
CREATE INDEX recharges_runnable ON recharges (run_after) WHERE status IN ('pending', 'charging', 'awaiting_payment');
