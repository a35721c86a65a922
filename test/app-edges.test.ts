/**
 * The app kit's answers to what goes wrong, over HTTP: a bad sign-up or log-in is said in plain
 * words beside the form; a redirect stays on the app's own site; a form posted from another site
 * is refused; a member may not invite or cap; an invitation that is not there, or not theirs, is
 * said plainly, never a raw error.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../app/start.ts';
import { AppClient } from './support/app-client.ts';
import { ENGINES, type Engine } from './support/harness.ts';
import { PASSWORD, userIdOf } from './support/app-browser.ts';

describe('the app kit when something is wrong', () => {
  let database: Awaited<ReturnType<Engine['open']>>;
  let app: RunningApp;
  let ann: AppClient;

  beforeAll(async () => {
    // An embedded database from the run's migrated image: as memory:// would be, without migrating it here.
    database = await ENGINES[0]!.open();
    app = await startApp({ APP_PORT: '0', DATABASE_URL: 'memory://', LOG_LEVEL: 'silent' }, { database: database.sql });
    ann = new AppClient(app.url);
    await ann.post('/signup', { name: 'Ann', email: 'ann@example.com', password: PASSWORD, next: '/' });
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  it('says what to fix in a sign-up or a log-in', async () => {
    const someone = new AppClient(app.url);
    const short = await someone.post('/signup', { name: 'Cy', email: 'cy@example.com', password: 'short', next: '/' });
    expect(short.status).toBe(400);
    expect(short.text).toContain('Choose a password of at least 8 characters.');
    const wrong = await someone.post('/login', { email: 'ann@example.com', password: 'not the password', next: '/' });
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain('That email and password do not match');
    // Nobody was logged in by either.
    expect((await someone.request('/')).headers.get('location')).toBe('/login?next=%2F');
  });

  it('keeps its redirects on its own site', async () => {
    const other = new AppClient(app.url);
    // A browser reads a backslash as a slash, and drops a tab: each of these is another site.
    for (const next of ['//evil.example/x', '/\\evil.example/x', '/\t/evil.example/x']) {
      expect((await other.post('/login', { email: 'ann@example.com', password: PASSWORD, next })).location, next).toBe('/');
    }
    expect((await other.post('/login', { email: 'ann@example.com', password: PASSWORD, next: '/teams?x=1' })).location).toBe('/teams?x=1');
    for (const back of ['//evil.example/x', '/%5Cevil.example/x']) {
      const link = new URL((await other.request(`/billing-link?back=${back}`)).headers.get('location')!);
      const [session] = await app.billing!.sql.query<{ return_url: string }>('SELECT return_url FROM billing_sessions ORDER BY created_at DESC LIMIT 1');
      expect(link.pathname).toMatch(/^\/billing\/open\//);
      expect(session!.return_url, back).toBe(`${app.url}/`);
    }
  });

  it('refuses a form larger than a page sends, before reading it', async () => {
    const huge = new URLSearchParams({ email: 'ann@example.com', password: 'x'.repeat(100 * 1024), next: '/' }).toString();
    // On a connection of its own: the server answers before the body is read, and closes it.
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const sent = request(`${app.url}/login`, { method: 'POST', agent: false, headers: { Origin: app.url, 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(huge) } }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      sent.on('error', reject);
      sent.end(huge);
    });
    expect(status).toBe(413);
    expect(body).toBe('This form is too large to send.');
  });

  it('refuses a form posted from another site', async () => {
    // Ann's own cookies, sent along by a page of another site.
    const response = await ann.request('/teams', { form: { name: 'Stolen' }, origin: 'https://evil.example' });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('This form was sent from another site');
    expect(await app.billing!.sql.query(`SELECT id FROM accounts WHERE kind = 'team'`)).toEqual([]);
  });

  it('lets only a team\'s owner or admin invite and cap, and says plainly when an invitation is not there', async () => {
    await ann.post('/teams', { name: 'Lab' });
    const invited = await ann.post('/team/invitations', { email: 'bob@example.com', role: 'member' });
    const invitation = new URL(/<code class="invite-link">([^<]+)<\/code>/.exec(invited.text)![1]!).pathname;

    // Someone else opens Bob's link: it is not theirs.
    const eve = new AppClient(app.url);
    await eve.post('/signup', { name: 'Eve', email: 'eve@example.com', password: PASSWORD, next: '/' });
    const notTheirs = await eve.request(invitation);
    expect(notTheirs.status).toBe(400);
    expect(await notTheirs.text()).toContain('This invitation is for another email address than eve@example.com');
    const forced = await eve.post(`${invitation}/accept`, {});
    expect(forced.status).toBe(400);
    expect(forced.text).toMatch(/not the recipient/i);
    expect(forced.text).not.toMatch(/at \w+ \(|stack|SELECT/);

    // Bob joins; as a member he may not invite or cap.
    const bob = new AppClient(app.url);
    await bob.post('/signup', { name: 'Bob', email: 'bob@example.com', password: PASSWORD, next: invitation });
    await bob.post(`${invitation}/accept`, {});
    expect((await bob.post('/team/invitations', { email: 'mallory@example.com', role: 'admin' })).status).toBe(403);
    expect((await bob.post('/team/members/anyone/cap', { amount: '100' })).status).toBe(403);

    // An invitation that is not there.
    const gone = await bob.post('/invite/no-such-invitation/accept', {});
    expect(gone.status).toBe(400);
    expect(gone.text).toContain('Go back and try again');
  });

  it('caps a member at nothing when the owner types 0, and keeps what a refused form held', async () => {
    // Ann is on Lab, which Bob joined above.
    const bob = await userIdOf(app, 'bob@example.com');
    const [lab] = await app.billing!.sql.query<{ id: string }>(`SELECT id FROM accounts WHERE kind = 'team' AND name = 'Lab'`);
    const capOf = async () => (await app.tollgate.balance(lab!.id)).members.find((m) => m.userId === bob)?.limits;

    expect((await ann.post(`/team/members/${bob}/cap`, { amount: '0' })).status).toBe(200);
    expect(await capOf()).toMatchObject([{ window: 'day', unit: 'usd', amount: 0 }]);
    // Empty is what lifts it.
    await ann.post(`/team/members/${bob}/cap`, { amount: '' });
    expect(await capOf()).toBeUndefined();

    const refused = await ann.post(`/team/members/${bob}/cap`, { amount: 'ten' });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain('&quot;ten&quot; is not an amount of credits');
    expect(refused.text).toMatch(/<input name="amount"[^>]* value="ten"/);
    const badEmail = await ann.post('/team/invitations', { email: 'not-an-email', role: 'member' });
    expect(badEmail.status).toBe(400);
    expect(badEmail.text).toMatch(/<input name="email"[^>]* value="not-an-email"/);
  });

  it('refuses to start on settings that cannot work, saying which', async () => {
    await expect(startApp({ APP_PORT: 'eighty' })).rejects.toThrow('APP_PORT must be a port number (0 to 65535), not "eighty"');
    await expect(startApp({ APP_PORT: '0', APP_AUTH_SECRET: 'short' })).rejects.toThrow('APP_AUTH_SECRET must be at least 32 characters');
    await expect(startApp({ APP_PORT: '0', TOLLGATE_URL: 'http://127.0.0.1:9' })).rejects.toThrow('TOLLGATE_URL is set but TOLLGATE_API_KEY is not');
  });

  it('answers a page that is not there with a page that says so', async () => {
    const response = await ann.request('/nowhere');
    expect(response.status).toBe(404);
    expect(await response.text()).toContain('There is no page at /nowhere.');
  });
});
