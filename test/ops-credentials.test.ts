/**
 * The credentials a start generates when TOLLGATE_SECRET_KEY and TOLLGATE_ADMIN_PASSWORD are not
 * set: printed by the one start that stored them, however many start at once; forgotten once the
 * variables are set, so that a start without them again generates new ones and shows them, never
 * the old ones counting again unsaid.
 */
import { describe, expect, it } from 'vitest';
import { Sessions } from '../src/admin/session.ts';
import { loadCredentials } from '../src/hono/credentials.ts';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { ServerProcess } from './support/server-process.ts';

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

describe.skipIf(!POSTGRES_URL)(`generated credentials on a fresh PostgreSQL database${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  it('by four servers starting at once: one prints the key and password it stored, the others say it was printed, and every server takes them', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open({ through: '0000' }); // no migration applied
    const servers = await Promise.allSettled([1, 2, 3, 4].map(() => ServerProcess.start({ DATABASE_URL: db.url, TOLLGATE_SECRET_KEY: '', TOLLGATE_ADMIN_PASSWORD: '' })));
    try {
      expect(servers.map((s) => s.status)).toEqual(Array(4).fill('fulfilled'));
      const banners = servers.map((s) => (s as PromiseFulfilledResult<ServerProcess>).value.banner);
      const keys = banners.flatMap((b) => /API secret key \(shown once, stored hashed\): (\S+)/.exec(b)?.[1] ?? []);
      const passwords = banners.flatMap((b) => /admin password \(shown once, stored hashed\): (\S+)/.exec(b)?.[1] ?? []);
      expect([keys.length, passwords.length]).toEqual([1, 1]);
      expect(banners.filter((b) => b.includes('API secret key: the one printed on first start'))).toHaveLength(3);
      expect(banners.filter((b) => b.includes('admin password: the one printed on first start'))).toHaveLength(3);
      for (const s of servers) {
        const { port } = (s as PromiseFulfilledResult<ServerProcess>).value;
        expect((await fetch(`http://127.0.0.1:${port}/v1/admin/settings`, { headers: { authorization: `Bearer ${keys[0]}` } })).status).toBe(200);
      }
      expect(await (await loadCredentials(db.sql, {})).checkAdminPassword(passwords[0]!)).toBe(true);
    } finally {
      for (const s of servers) if (s.status === 'fulfilled') await s.value.stop();
      await db.drop();
    }
  }, 120_000);
});
