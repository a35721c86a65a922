/**
 * The credentials a start generates when TOLLGATE_SECRET_KEY and TOLLGATE_ADMIN_PASSWORD are not
 * set: forgotten once the variables are set, so that a start without them again generates new
 * ones and shows them, never the old ones counting again unsaid.
 */
import { describe, expect, it } from 'vitest';
import { Sessions } from '../src/admin/session.ts';
import { loadCredentials } from '../src/hono/credentials.ts';
import { ENGINES } from './support/harness.ts';

const CHOSEN = { secretKey: 'tg_sk_chosen_0123456789abcdefghij', adminPassword: 'a password chosen' };

for (const engine of ENGINES) {
  describe(`generated credentials on ${engine.name}`, () => {
    it('are forgotten once the variables are set: unset again, new ones are generated and shown, and the old ones and their sessions count no more', async () => {
      const db = await engine.open();
      try {
        const first = await loadCredentials(db.sql, {});
        const { apiKey, adminPassword } = first.generated;
        expect(apiKey && adminPassword).toBeTruthy();
        // An admin logged in with the generated password.
        const fingerprint = (await first.verifyAdminPassword(adminPassword!))!;
        await db.sql.query(
          `INSERT INTO admin_sessions (token_sha256, password_fingerprint, expires_at, created_address, user_agent, last_address)
           VALUES ($1, $2, now() + interval '1 hour', '127.0.0.1', 'test', '127.0.0.1')`,
          [Buffer.alloc(32, 1), fingerprint],
        );
        expect(await new Sessions(db.sql, first).list()).toHaveLength(1);

        const chosen = await loadCredentials(db.sql, CHOSEN);
        expect(chosen.generated).toEqual({});
        expect(chosen.checkApiKey(apiKey!)).toBe(false);
        expect(await chosen.checkAdminPassword(adminPassword!)).toBe(false);

        const again = await loadCredentials(db.sql, {});
        expect(again.generated.apiKey).toMatch(/^tg_sk_/);
        expect(again.generated.adminPassword).toBeTruthy();
        expect(again.generated.apiKey).not.toBe(apiKey);
        expect(again.checkApiKey(again.generated.apiKey!)).toBe(true);
        expect(await again.checkAdminPassword(again.generated.adminPassword!)).toBe(true);
        expect(again.checkApiKey(apiKey!)).toBe(false);
        expect(await again.checkAdminPassword(adminPassword!)).toBe(false);
        expect(await new Sessions(db.sql, again).list()).toEqual([]);
      } finally {
        await db.drop();
      }
    }, 60_000);
  });
}
