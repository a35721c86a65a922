-- Every webhook event a processor sent, stored once (unique per processor and event id) with its
-- raw payload, and applied in the same transaction as its ledger effect (engine/grants/webhooks.ts).
-- `object_ref` is the processor's id of what the event is about (a payment, a subscription), so
-- an event that arrives after another about the same object can see it. A failure is recorded
-- with its error, answered with a 5xx, and applied again on the processor's retry.
CREATE TABLE webhook_events (
  id           bigserial PRIMARY KEY,
  processor    text NOT NULL,
  event_id     text NOT NULL,
  type         text NOT NULL,
  account_id   text,
  object_ref   text,
  payload      text NOT NULL,
  status       text NOT NULL CHECK (status IN ('applied', 'ignored', 'failed')),
  error        text,
  received_at  timestamptz NOT NULL DEFAULT now(),
  applied_at   timestamptz,
  attempts     int NOT NULL DEFAULT 1,
  UNIQUE (processor, event_id)
);
CREATE INDEX webhook_events_received ON webhook_events (received_at DESC);
CREATE INDEX webhook_events_object ON webhook_events (processor, object_ref);
