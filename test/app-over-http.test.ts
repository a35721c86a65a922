/**
 * The app kit with Tollgate as a separate server, reached over HTTP (TOLLGATE_URL and
 * TOLLGATE_API_KEY) while the app keeps its users in a database of its own: signing up makes the
 * user's account at the server, a team is a team account there, a member's cap is set there, a
 * chat answer is authorized and charged there as the member who asked, and Billing sends the
 * browser to the server's billing page, where the link opens a session once. On PGlite, and on
 * PostgreSQL when TEST_DATABASE_URL is set.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startApp, type RunningApp } from '../app/start.ts';
import { ENGINES } from './support/harness.ts';
import { API_KEY, useApi } from './support/http.ts';
import { AppClient } from './support/app-client.ts';
import { serveApp } from './support/browser.ts';

/**
 * A directory for the app's own embedded database, holding the run's image of one that initdb
 * just made (setup/pglite-image.ts): as memory:// starts, without running initdb in WASM (2-5 s).
 */
function initializedDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-app-db-'));
  execFileSync('tar', ['-xf', inject('pgliteUnmigratedImage'), '-C', dir], { stdio: 'ignore' });
  return dir;
}

const question = (text: string) => [{ id: 'q1', role: 'user', parts: [{ type: 'text', text }] }];

for (const engine of ENGINES) {
  describe(`the app with Tollgate over HTTP (Tollgate on ${engine.name})`, () => {
    const api = useApi(engine);
    const closers: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
    });

    async function start(): Promise<{ app: RunningApp; server: string }> {
      await api.billing.admin.applyPreset('subscription-plus-packs');
      const tollgate = await serveApp(api.app);
      closers.push(tollgate.close);
      const dir = initializedDirectory();
      closers.push(async () => rmSync(dir, { recursive: true, force: true }));
      const app = await startApp({ APP_PORT: '0', DATABASE_URL: `pglite://${dir}`, TOLLGATE_URL: tollgate.base, TOLLGATE_API_KEY: API_KEY, APP_DEMO_WORD_DELAY_MS: '0', LOG_LEVEL: 'silent' });
      closers.push(app.close);
      return { app, server: tollgate.base };
    }

    it('keeps accounts, caps and charges at the server, and sends Billing to its page', async () => {
      const { app, server } = await start();
      expect(app.tollgate.mode).toBe('http');
      expect(app.billing).toBeUndefined();
      const ann = new AppClient(app.url);
      const bob = new AppClient(app.url);

      // Sign-up: the personal account is made at the server.
      expect(await ann.post('/signup', { name: 'Ann Archer', email: 'ann@example.com', password: 'correct horse', next: '/' })).toMatchObject({ status: 303, location: '/' });
      const annId = (await app.auth.api.signInEmail({ body: { email: 'ann@example.com', password: 'correct horse' } })).user.id;
      expect(await api.billing.getAccount(`user_${annId}`)).toMatchObject({ kind: 'personal', name: 'Ann Archer' });
      expect(await ann.page('/')).toContain('data-plan="free"');

      // A team there; Bob invited, joins, and is capped at 5 credits a day.
      expect((await ann.post('/teams', { name: 'Lab' })).location).toBe('/team');
      const teams = await api.sql.query<{ id: string }>(`SELECT id FROM accounts WHERE kind = 'team'`);
      expect(teams).toHaveLength(1);
      const team = teams[0]!.id;
      const invited = await ann.post('/team/invitations', { email: 'bob@example.com', role: 'member' });
      const link = /<code class="invite-link">([^<]+)<\/code>/.exec(invited.text)![1]!;
      const invitation = new URL(link).pathname;
      await bob.post('/signup', { name: 'Bob Baker', email: 'bob@example.com', password: 'correct horse', next: invitation });
      expect(await bob.page(invitation)).toContain('Join Lab');
      expect((await bob.post(`${invitation}/accept`, {})).location).toBe('/');
      const bobId = (await app.auth.api.signInEmail({ body: { email: 'bob@example.com', password: 'correct horse' } })).user.id;
      await ann.post(`/team/members/${bobId}/cap`, { amount: '5' });
      expect((await api.billing.balance(team)).members).toEqual([
        expect.objectContaining({ userId: bobId, name: 'Bob Baker', limits: [expect.objectContaining({ window: 'day', unit: 'usd', amount: 50_000 })] }),
      ]);
      // Only a member of the team is capped.
      expect(await ann.post('/team/members/someone-else/cap', { amount: '5' }).then((r) => r.text)).toContain('not a member of this team');
      expect((await api.billing.balance(team)).members.map((m) => m.userId)).toEqual([bobId]);

      // Bob's chat: authorized and charged at the server, to the team, as Bob.
      const answer = await bob.request('/chat/answers', { json: { model: 'gpt-4o-mini', messages: question('What does a toll gate do?') } });
      expect(answer.status).toBe(200);
      expect(await answer.text()).toContain('text-delta');
      const events = await api.sql.query<{ account_id: string; user_id: string; value_micros: number }>('SELECT account_id, user_id, value_micros FROM usage_events');
      expect(events).toEqual([{ account_id: team, user_id: bobId, value_micros: expect.any(Number) }]);
      expect(events[0]!.value_micros).toBeGreaterThan(0);
      const pool = await api.billing.balance(team);
      expect(pool.heldMicros).toBe(0);
      expect(pool.members[0]!.limits[0]!.used).toBe(events[0]!.value_micros);

      // Billing: a link to the server's page, for the team, as a member; it opens once.
      const billing = await bob.request('/billing-link');
      expect(billing.status).toBe(303);
      const url = new URL(billing.headers.get('location')!);
      expect(url.origin).toBe(server);
      expect(url.pathname).toMatch(/^\/billing\/open\//);
      const [session] = await api.sql.query<{ account_id: string; user_id: string; role: string; return_url: string }>('SELECT account_id, user_id, role, return_url FROM billing_sessions');
      expect(session).toEqual({ account_id: team, user_id: bobId, role: 'member', return_url: `${app.url}/` });
      const opened = await fetch(url, { redirect: 'manual' });
      expect(opened.status).toBe(303);
      expect((await fetch(url, { redirect: 'manual' })).status).not.toBe(303);
    });
  });
}
