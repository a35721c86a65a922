-- Secrets every process of one database shares. The first is the key that seals hold ids
-- (core/hold-id.ts): what an id describes is encrypted and authenticated with it, so an id names
-- no account or user to whoever holds it, and one the library did not issue is not a hold.
-- Drawn from the server's strong random source (gen_random_uuid: 122 random bits each), once
-- per database. The server keeps its own beside it (hashes of the API key and admin password,
-- the session key).
CREATE TABLE secrets (
  name text PRIMARY KEY,
  value bytea NOT NULL
);
INSERT INTO secrets (name, value)
SELECT 'hold_ids', substring(decode(replace(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex') FROM 1 FOR 32);
