-- A move to a plan's newer version that waits for the account's next period: from
-- plan_version_renews_at (the end of the period it paid for) its terms are those of
-- plan_version_at_renewal, read so by every process at once (terms.ts), so nothing has to be
-- written at the renewal, and nothing can be written twice. At a real processor the
-- subscription's price was changed when the move was asked (nothing billed then): the period
-- at the new price opens when the processor says it is paid. Both NULL: no move waiting.
ALTER TABLE accounts ADD COLUMN plan_version_at_renewal integer;
ALTER TABLE accounts ADD COLUMN plan_version_renews_at timestamptz;
ALTER TABLE accounts ADD CONSTRAINT accounts_plan_version_move_whole
  CHECK ((plan_version_at_renewal IS NULL) = (plan_version_renews_at IS NULL));

-- A move waiting is part of the account's terms.
DROP TRIGGER accounts_terms_changed ON accounts;
CREATE TRIGGER accounts_terms_changed BEFORE UPDATE ON accounts FOR EACH ROW
  WHEN ((OLD.kind, OLD.time_zone, OLD.plan_id, OLD.plan_version, OLD.plan_anchor_at, OLD.plan_ends_at, OLD.plan_version_at_renewal, OLD.plan_version_renews_at)
        IS DISTINCT FROM (NEW.kind, NEW.time_zone, NEW.plan_id, NEW.plan_version, NEW.plan_anchor_at, NEW.plan_ends_at, NEW.plan_version_at_renewal, NEW.plan_version_renews_at))
  EXECUTE FUNCTION tollgate_account_terms_changed();
