-- Plan versions: a change to what a plan sells (its price, surcharge, allowance, limits, overage
-- or models) makes a new version; the plans row is its current version, and plan_versions keeps
-- every version, the current one included, with the processor prices it was sold at. An account
-- on a paid plan names the version it bought (plan_version) and is decided on that version's
-- terms until the admin moves it; NULL follows the current version (free plans: nobody paid).
ALTER TABLE plans ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE accounts ADD COLUMN plan_version integer;

CREATE TABLE plan_versions (
  plan_id           bigint NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
  version           integer NOT NULL,
  price_cents       bigint NOT NULL,
  surcharge_cents   bigint NOT NULL,
  included_micros   bigint,
  limits            jsonb NOT NULL,
  overage           text NOT NULL,
  models            text[] NOT NULL,
  processor_prices  jsonb NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (plan_id, version)
);
INSERT INTO plan_versions (plan_id, version, price_cents, surcharge_cents, included_micros, limits, overage, models, processor_prices)
  SELECT id, version, price_cents, surcharge_cents, included_micros, limits, overage, models, processor_prices FROM plans;
-- Accounts on a paid plan today bought its only version.
UPDATE accounts a SET plan_version = 1 FROM plans p WHERE p.id = a.plan_id AND p.price_cents > 0;

-- A change to the terms makes the next version; a change to the processor prices alone (a
-- catalog sync) is the current version's.
CREATE FUNCTION tollgate_plan_terms_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version + 1;
  RETURN NEW;
END $$;
CREATE TRIGGER plans_terms_changed BEFORE UPDATE ON plans FOR EACH ROW
  WHEN ((OLD.price_cents, OLD.surcharge_cents, OLD.included_micros, OLD.limits, OLD.overage, OLD.models)
        IS DISTINCT FROM (NEW.price_cents, NEW.surcharge_cents, NEW.included_micros, NEW.limits, NEW.overage, NEW.models))
  EXECUTE FUNCTION tollgate_plan_terms_changed();

-- Every version is kept as it is written. Accounts that followed a free version are pinned to it
-- when the plan takes a price: they did not pay for the new one.
CREATE FUNCTION tollgate_plan_version_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO plan_versions (plan_id, version, price_cents, surcharge_cents, included_micros, limits, overage, models, processor_prices)
  VALUES (NEW.id, NEW.version, NEW.price_cents, NEW.surcharge_cents, NEW.included_micros, NEW.limits, NEW.overage, NEW.models, NEW.processor_prices)
  ON CONFLICT (plan_id, version) DO UPDATE SET processor_prices = EXCLUDED.processor_prices;
  IF TG_OP = 'UPDATE' AND NEW.version <> OLD.version AND NEW.price_cents > 0 THEN
    UPDATE accounts SET plan_version = OLD.version WHERE plan_id = NEW.id AND plan_version IS NULL;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER plans_version_kept AFTER INSERT OR UPDATE ON plans FOR EACH ROW EXECUTE FUNCTION tollgate_plan_version_kept();

-- The version an account is on is part of its terms.
DROP TRIGGER accounts_terms_changed ON accounts;
CREATE TRIGGER accounts_terms_changed BEFORE UPDATE ON accounts FOR EACH ROW
  WHEN ((OLD.kind, OLD.time_zone, OLD.plan_id, OLD.plan_version, OLD.plan_anchor_at, OLD.plan_ends_at)
        IS DISTINCT FROM (NEW.kind, NEW.time_zone, NEW.plan_id, NEW.plan_version, NEW.plan_anchor_at, NEW.plan_ends_at))
  EXECUTE FUNCTION tollgate_account_terms_changed();
