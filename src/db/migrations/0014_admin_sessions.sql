-- The admin panel's sessions (admin/session.ts). The cookie holds a random token; only its
-- SHA-256 is kept here, so a copy of this table opens no session. A session is valid until it
-- expires, is ended (logout, or from the sessions page), or the admin password changes: it is
-- bound to the digest of the password's stored hash (`secrets`), and counts only while that
-- digest is the same.
CREATE TABLE admin_sessions (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_sha256         bytea NOT NULL UNIQUE,
  password_fingerprint bytea NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  expires_at           timestamptz NOT NULL,
  created_address      text NOT NULL,
  user_agent           text NOT NULL,
  last_used_at         timestamptz NOT NULL DEFAULT now(),
  last_address         text NOT NULL
);
CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);

-- Login attempts per client address, for the whole deployment: one row an address, counted
-- before the password is hashed (admin/session.ts, LoginLimiter). A window starts with its
-- first attempt; a success deletes the row.
CREATE TABLE admin_login_attempts (
  address      text PRIMARY KEY,
  window_start timestamptz NOT NULL,
  attempts     int NOT NULL
);
CREATE INDEX admin_login_attempts_window_start ON admin_login_attempts (window_start);
