-- Who a plan's change or retirement reaches (engine/reads/admin-reads.ts, planHolders): how many
-- accounts are on it, and the first few by id. Without an index on the plan, the plans page read
-- every account and sorted the ids of each plan's. An account is inserted once and rarely changes
-- plan: the index costs nothing on the usage path.
CREATE INDEX accounts_plan ON accounts (plan_id, id);
