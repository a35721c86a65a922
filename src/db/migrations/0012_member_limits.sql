-- A team's caps on one member's usage, within the team's pool (billing/members.ts). A row
-- exists only for a capped member: an account without caps has none, and its reads and
-- charges find nothing here. `usage` holds the member's usage counters, in the shape and with
-- the windows of the account's own (core/usage-windows.ts), written by the charge statement
-- under the ledger version guard that writes the account's.
CREATE TABLE member_limits (
  account_id  text NOT NULL REFERENCES accounts (id),
  user_id     text NOT NULL,
  limits      jsonb NOT NULL,
  usage       jsonb NOT NULL,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (account_id, user_id)
);

-- A cap set, changed or removed is part of the account's terms: it moves their version, so a
-- decision or a charge on terms read before it is not written (the guards of authorize.ts and
-- charge-write.ts). A charge writing the counters does not move it.
CREATE FUNCTION tollgate_member_limits_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE accounts SET terms_version = terms_version + 1 WHERE id = COALESCE(NEW.account_id, OLD.account_id);
  RETURN NULL;
END $$;
CREATE TRIGGER member_limits_changed AFTER INSERT OR DELETE OR UPDATE OF limits ON member_limits
  FOR EACH ROW EXECUTE FUNCTION tollgate_member_limits_changed();
