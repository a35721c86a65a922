-- Version counters for the terms an account is decided under, so that a decision made on
-- terms this process remembers is written only if they have not changed since:
-- terms_version moves with every change to the account's plan, period anchor, end or time zone;
-- catalog_version with every change to the settings or to any plan.
ALTER TABLE accounts ADD COLUMN terms_version bigint NOT NULL DEFAULT 0;
ALTER TABLE settings ADD COLUMN catalog_version bigint NOT NULL DEFAULT 0;

CREATE FUNCTION tollgate_account_terms_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.terms_version := OLD.terms_version + 1;
  RETURN NEW;
END $$;
CREATE TRIGGER accounts_terms_changed BEFORE UPDATE ON accounts FOR EACH ROW
  WHEN ((OLD.kind, OLD.time_zone, OLD.plan_id, OLD.plan_anchor_at, OLD.plan_ends_at)
        IS DISTINCT FROM (NEW.kind, NEW.time_zone, NEW.plan_id, NEW.plan_anchor_at, NEW.plan_ends_at))
  EXECUTE FUNCTION tollgate_account_terms_changed();

CREATE FUNCTION tollgate_settings_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.catalog_version := OLD.catalog_version + 1;
  RETURN NEW;
END $$;
CREATE TRIGGER settings_changed BEFORE UPDATE ON settings FOR EACH ROW EXECUTE FUNCTION tollgate_settings_changed();

CREATE FUNCTION tollgate_plans_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE settings SET catalog_version = catalog_version + 1;
  RETURN NULL;
END $$;
CREATE TRIGGER plans_changed AFTER INSERT OR UPDATE OR DELETE ON plans FOR EACH STATEMENT EXECUTE FUNCTION tollgate_plans_changed();
