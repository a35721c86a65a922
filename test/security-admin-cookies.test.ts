/**
 * The admin panel's cookies behind a proxy that ends TLS and speaks plain http to the server,
 * saying nothing of it: with an https public address (PUBLIC_URL) they are Secure all the same,
 * so a browser never sends the session, nor the note a form leaves, over plain http.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { Sessions } from '../src/admin/session.ts';
import { loadCredentials } from '../src/hono/credentials.ts';
import { AdminClient, adminApp } from './support/admin-client.ts';
import { ENGINES, useBilling } from './support/harness.ts';

for (const engine of ENGINES) {
  describe(`admin cookies on ${engine.name}`, () => {
    const t = useBilling(engine);

    /** The login form's nonce cookie and a session's cookie, as Set-Cookie says them, over plain http. */
    async function cookies(publicUrl?: string): Promise<string[]> {
      const credentials = await loadCredentials(t.sql, { adminPassword: 'a password', secretKey: 'tg_sk_test_0123456789abcdefghij' });
      const sessions = new Sessions(t.sql, credentials, publicUrl);
      const app = new Hono();
      app.get('/admin/login', (c) => c.text(sessions.loginToken(c)));
      app.post('/admin/login', async (c) => {
        await sessions.start(c, (await credentials.verifyAdminPassword('a password'))!);
        return c.body(null, 303);
      });
      const form = await app.request('http://billing.internal/admin/login');
      const session = await app.request('http://billing.internal/admin/login', { method: 'POST' });
      return [...form.headers.getSetCookie(), ...session.headers.getSetCookie().filter((c) => c.startsWith('tollgate_admin='))];
    }

    it('makes the login and session cookies Secure when the public address is https, though the request came over http', async () => {
      const secure = await cookies('https://billing.example');
      expect(secure).toHaveLength(2);
      for (const cookie of secure) expect(cookie).toMatch(/; Secure/);
      // On an http public address, or none, over http: not Secure, or the browser would drop them.
      for (const cookie of [...(await cookies('http://billing.example')), ...(await cookies())]) expect(cookie).not.toMatch(/Secure/);
    });

    it('is so in the server, which gives the panel its PUBLIC_URL', async () => {
      const secure = await adminApp(t.billing, { publicUrl: 'https://billing.example' });
      const form = await secure.request('http://billing.internal/admin/login');
      expect(form.headers.getSetCookie().some((c) => /; Secure/.test(c))).toBe(true);
      const plain = await adminApp(t.billing);
      expect((await plain.request('http://billing.internal/admin/login')).headers.getSetCookie().some((c) => /Secure/.test(c))).toBe(false);
    });

    it("makes the note a form leaves for the next page Secure by the same rule, and its removal too", async () => {
      /** The note cookie's Set-Cookie after a form (`left`), and on the page that shows it (`taken`). */
      const noteCookies = async (publicUrl?: string) => {
        const admin = new AdminClient(await adminApp(t.billing, { publicUrl }));
        expect((await admin.login()).status).toBe(303);
        await admin.page('/admin/sessions');
        const note = (res: Response) => res.headers.getSetCookie().filter((c) => c.startsWith('tollgate_flash='));
        const left = note((await admin.post('/admin/sessions/end-others', {})).res);
        const shown = await admin.page('/admin/sessions');
        expect(shown.html).toMatch(/Ended \d+ other sessions?\./);
        return { left, taken: note(shown.res) };
      };
      const secure = await noteCookies('https://billing.example');
      expect([...secure.left, ...secure.taken]).toHaveLength(2);
      for (const cookie of [...secure.left, ...secure.taken]) expect(cookie).toMatch(/; Secure/);
      const plain = await noteCookies();
      expect([...plain.left, ...plain.taken]).toHaveLength(2);
      for (const cookie of [...plain.left, ...plain.taken]) expect(cookie).not.toMatch(/Secure/);
    });
  });
}
