-- One row per processor the catalog was synced to (engine/catalog/sync.ts). A sync holds its
-- processor's row locked while it asks the processor for the prices plans and packs need, so
-- two syncs at once, in any processes, run one after the other and the second finds what the
-- first made. The row keeps the last sync that went through (what it created, linked, archived
-- and left alone) and the last failure, with its error, for the admin panel.
CREATE TABLE catalog_syncs (
  processor   text PRIMARY KEY,
  result      jsonb,
  synced_at   timestamptz,
  error       text,
  failed_at   timestamptz
);

-- Deliveries of a webhook event after the one that applied it (or found it of no interest):
-- acknowledged and counted, nothing applied again.
ALTER TABLE webhook_events ADD COLUMN duplicates int NOT NULL DEFAULT 0;
