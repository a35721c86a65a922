-- A price override moves the catalog version too, as a plan or settings change does: every
-- decision is guarded by that version, so a process whose price book is older than what it
-- read reloads it before deciding, and an override set in one process binds every other's
-- next answer (billing/price-lookup.ts).
CREATE TRIGGER model_prices_changed AFTER INSERT OR UPDATE OR DELETE ON model_prices FOR EACH STATEMENT EXECUTE FUNCTION tollgate_plans_changed();
