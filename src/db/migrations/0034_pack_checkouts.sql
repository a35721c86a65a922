-- Pack checkouts: the version of the pack each checkout page sold, by the processor's own
-- reference for the page (a Stripe Checkout Session, a Paddle transaction). A page paid after the
-- pack changed at the same price is credited as the version it was opened at, which its price
-- alone cannot tell (catalog/pack-versions.ts).
CREATE TABLE pack_checkouts (
  processor     text NOT NULL,
  reference     text NOT NULL,
  pack_id       bigint NOT NULL,
  pack_version  integer NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (processor, reference),
  FOREIGN KEY (pack_id, pack_version) REFERENCES pack_versions (pack_id, version) ON DELETE CASCADE
);
