/**
 * Two processes of `npm run app` started at once on one fresh PostgreSQL database, as the app
 * scales out: one makes the tables, the auth secret and the demo while the other waits, then
 * finds them; a log-in at one process is a
 * session at the other; and a team member chatting through both at once, capped at about ten answers, is
 * answered until the cap and refused after it, every answer charged once, nothing left held,
 * the ledger reconciled. Skipped, with a note, without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBilling, type Billing } from '../src/index.ts';
import { DEMO } from '../app/seed.ts';
import { startApp } from '../app/start.ts';
import { AppClient } from './support/app-client.ts';
import { AppProcess } from './support/app-process.ts';
import { ENGINES } from './support/harness.ts';

const postgres = ENGINES.find((e) => e.name === 'postgres');
if (!postgres) console.warn('\n[tollgate tests] TEST_DATABASE_URL is not set: the app on two processes is SKIPPED.\n');

const question = (text: string) => [{ id: 'q1', role: 'user', parts: [{ type: 'text', text }] }];

describe.skipIf(!postgres)('the app on two processes and one PostgreSQL database', () => {
  let database: Awaited<ReturnType<NonNullable<typeof postgres>['open']>>;
  let billing: Billing;
  const processes: AppProcess[] = [];

  beforeAll(async () => {
    database = await postgres!.open();
    const env = { DATABASE_URL: database.url!, TOLLGATE_SECRET_KEY: 'tg_sk_app_processes_0123456789', TOLLGATE_ADMIN_PASSWORD: 'app-processes-password', APP_DEMO_WORD_DELAY_MS: '0' };
    processes.push(...(await Promise.all([AppProcess.start(env), AppProcess.start(env)])));
    billing = await createBilling({ database: database.url! });
  }, 120_000);

  afterAll(async () => {
    for (const p of processes) await p.stop();
    await billing?.close();
    await database?.drop();
  });

  it('shares the demo, the sessions and the member cap across both', async () => {
    const [a, b] = processes as [AppProcess, AppProcess];
    // Exactly one of them made the demo.
    expect(processes.filter((p) => p.banner.includes('made on an earlier start'))).toHaveLength(1);
    expect(await database.sql.query(`SELECT email FROM auth_users ORDER BY email`)).toEqual([{ email: DEMO.member.email }, { email: DEMO.owner.email }]);
    const [team] = await database.sql.query<{ id: string }>(`SELECT id FROM accounts WHERE kind = 'team'`);
    expect(team).toBeDefined();

    // The member logs in at one process and works at the other.
    const atA = new AppClient(a.url);
    expect(await atA.post('/login', { email: DEMO.member.email, password: DEMO.member.password, next: '/' })).toMatchObject({ status: 303, location: '/' });
    await atA.post('/switch', { account: team!.id });
    const atB = atA.at(b.url);
    expect(await atB.page('/')).toContain(`<h1>${DEMO.team.name}</h1>`);

    // The demo member's cap ($0.002 a day) is about ten answers.
    const [member] = await database.sql.query<{ id: string }>(`SELECT id FROM auth_users WHERE email = $1`, [DEMO.member.email]);

    // Sixteen questions at once, half at each process.
    const replies = await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        const response = await (i % 2 ? atB : atA).request('/chat/answers', { json: { model: 'gpt-4o-mini', messages: question(`Question ${i}`) } });
        expect(response.status).toBe(200);
        const text = await response.text();
        return text.includes('data-refusal') ? 'refused' : text.includes('text-delta') ? 'answered' : text;
      }),
    );
    const answered = replies.filter((r) => r === 'answered').length;
    const refused = replies.filter((r) => r === 'refused').length;
    expect(answered + refused).toBe(16);
    expect(answered).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);

    const events = await database.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM usage_events WHERE account_id = $1 AND user_id = $2`, [team!.id, member!.id]);
    expect(events[0]!.n).toBe(answered);
    const pool = await billing.balance(team!.id);
    expect(pool.heldMicros).toBe(0);
    const capped = pool.members.find((m) => m.userId === member!.id)!;
    expect(capped.name).toBe(DEMO.member.name); // the demo set the cap with the member's name
    const cap = capped.limits[0]!;
    expect(cap.used).toBeLessThanOrEqual(cap.amount);
    expect((await billing.reconcile(team!.id)).ok).toBe(true);
  }, 120_000);
});

describe.skipIf(!postgres)('two starts of the app at once on a fresh PostgreSQL database', () => {
  it('take turns at preparing it: one applies the pricing mode and makes the demo, the other finds them, and both serve', async () => {
    const database = await postgres!.open();
    const env = { APP_PORT: '0', DATABASE_URL: database.url!, LOG_LEVEL: 'silent', TOLLGATE_SECRET_KEY: 'tg_sk_app_race_0123456789abcdef', TOLLGATE_ADMIN_PASSWORD: 'app-race-password' };
    // Started in one process, the two reach the same first statements together (without the
    // turn, the second applied the same pricing mode and failed on its plans, every time).
    const apps = await Promise.all([startApp(env, { seed: true }), startApp(env, { seed: true })]);
    try {
      expect(apps.map((a) => a.seeded).sort()).toEqual([false, true]);
      for (const app of apps) expect((await fetch(`${app.url}/login`)).status).toBe(200);
      const [teams] = await database.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM accounts WHERE kind = 'team'`);
      expect(teams!.n).toBe(1);
    } finally {
      for (const app of apps) await app.close();
      await database.drop();
    }
  }, 120_000);
});
