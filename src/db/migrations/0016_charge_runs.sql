-- Which moves of an account's ledger version were charges (charge/write.ts). Every writer of
-- value moves ledger_version by one; a charge statement also sets charged_version to the version
-- it wrote, and charges_since to the version its run of charges began after: the one before it
-- when the move before it was a charge's too (charged_version = ledger_version), else the version
-- it found. So on any row, charged_version = ledger_version and charges_since <= v say that every
-- move after version v was a charge, which only draws existing buckets down: a batch of usage
-- priced on the ledger as it was at v can then still be written, in one statement, on what the
-- ledger has become. A writer that does not set them (a grant, a refund, a plan change) ends the
-- run, which errs towards reading again.
ALTER TABLE account_balances
  ADD COLUMN charged_version bigint NOT NULL DEFAULT -1,
  ADD COLUMN charges_since bigint NOT NULL DEFAULT 0;

-- A batch statement that finds a ledger moved otherwise stops here, with the accounts to read
-- again in the detail (a JSON array), and everything it wrote is undone.
CREATE FUNCTION tollgate_ledgers_moved(accounts text[]) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledgers moved since they were read' USING ERRCODE = 'TGB01', DETAIL = to_json(accounts)::text;
END
$$;
