-- The HTTP API's Idempotency-Key: the first response to a key is kept, and a retry with the
-- same key and body gets it again (http/idempotency.ts). A row without a status is a request
-- still being answered, or one whose process died; after a while another may take it over.
CREATE TABLE api_idempotency (
  key text PRIMARY KEY,
  request_hash text NOT NULL,
  status int,
  body jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_idempotency_created_at ON api_idempotency (created_at);
