-- Pack versions: a change to what a pack sells (its price, value or expiry) makes a new version;
-- the packs row is its current version, and pack_versions keeps every version, the current one
-- included, with the processor prices it was sold at. A checkout opened before a change and paid
-- after is credited as the version sold at the price it paid (catalog/pack-versions.ts).
ALTER TABLE packs ADD COLUMN version integer NOT NULL DEFAULT 1;

CREATE TABLE pack_versions (
  pack_id             bigint NOT NULL REFERENCES packs (id) ON DELETE CASCADE,
  version             integer NOT NULL,
  price_cents         bigint NOT NULL,
  value_micros        bigint,
  expires_after_days  integer,
  processor_prices    jsonb NOT NULL,
  created_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (pack_id, version)
);
INSERT INTO pack_versions (pack_id, version, price_cents, value_micros, expires_after_days, processor_prices)
  SELECT id, version, price_cents, value_micros, expires_after_days, processor_prices FROM packs;

-- A change to the terms makes the next version; a change to the processor prices alone (a
-- catalog sync) is the current version's.
CREATE FUNCTION tollgate_pack_terms_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version + 1;
  RETURN NEW;
END $$;
CREATE TRIGGER packs_terms_changed BEFORE UPDATE ON packs FOR EACH ROW
  WHEN ((OLD.price_cents, OLD.value_micros, OLD.expires_after_days) IS DISTINCT FROM (NEW.price_cents, NEW.value_micros, NEW.expires_after_days))
  EXECUTE FUNCTION tollgate_pack_terms_changed();

-- Every version is kept as it is written.
CREATE FUNCTION tollgate_pack_version_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO pack_versions (pack_id, version, price_cents, value_micros, expires_after_days, processor_prices)
  VALUES (NEW.id, NEW.version, NEW.price_cents, NEW.value_micros, NEW.expires_after_days, NEW.processor_prices)
  ON CONFLICT (pack_id, version) DO UPDATE SET processor_prices = EXCLUDED.processor_prices;
  RETURN NULL;
END $$;
CREATE TRIGGER packs_version_kept AFTER INSERT OR UPDATE ON packs FOR EACH ROW EXECUTE FUNCTION tollgate_pack_version_kept();
