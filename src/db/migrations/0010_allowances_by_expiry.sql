-- Whether this period's allowance is open is read as "is it among the account's allowances that
-- have not expired" (billing/snapshot.ts), no longer "is it the newest one opened": a period
-- opened early by a process whose clock runs ahead must not hide the one still current. The
-- index that found the newest allowance becomes one that finds those not expired, with their
-- references, so the read stays a short index-only scan however many periods an account has had.
DROP INDEX buckets_account_allowance;
CREATE INDEX buckets_account_allowance ON buckets (account_id, expires_at) INCLUDE (reference) WHERE source = 'allowance';
