/**
 * The admin's account search, on both engines: a search that matches no account reads the
 * accounts once (each read of them is a pass over every account's id and name), and a page past
 * the last still says how many match.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES } from './support/harness.ts';
import { withRecordedBilling } from './support/recording-sql.ts';

for (const engine of ENGINES) {
  describe(`the admin's account search on ${engine.name}`, () => {
    it('reads the accounts once for a search that matches none', async () => {
      await withRecordedBilling(engine, async ({ billing, seen }) => {
        await billing.admin.applyPreset('credit-packs');
        for (const id of ['acme', 'globex', 'initech']) await billing.upsertAccount({ id, kind: 'team' });

        seen.length = 0;
        expect(await billing.admin.listAccounts({ search: 'umbrella' })).toMatchObject({ rows: [], total: 0 });
        expect(seen.filter((text) => /FROM accounts\b/.test(text))).toHaveLength(1);

        expect(await billing.admin.listAccounts({ search: 'e', offset: 50 })).toMatchObject({ rows: [], total: 3 });
      });
    });
  });
}
