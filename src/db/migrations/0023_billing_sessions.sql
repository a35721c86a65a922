-- The customer billing page's sessions (billing-page/session.ts). A host app asks for a link
-- (POST /v1/accounts/{id}/billing-sessions); the link's random token is kept only as its
-- SHA-256, so a copy of this table opens nothing. Opening the link exchanges it, once, for a
-- cookie session: the row then names the cookie's token (again only its SHA-256), and
-- expires_at moves from the link's end to the session's. Every process reads the same rows.
CREATE TABLE billing_sessions (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id     text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  user_id        text,
  role           text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  return_url     text NOT NULL,
  link_sha256    bytea NOT NULL UNIQUE,
  cookie_sha256  bytea UNIQUE,
  opened_at      timestamptz,
  expires_at     timestamptz NOT NULL,
  created_at     timestamptz NOT NULL,
  CHECK ((opened_at IS NULL) = (cookie_sha256 IS NULL))
);
CREATE INDEX billing_sessions_expires_at ON billing_sessions (expires_at);
