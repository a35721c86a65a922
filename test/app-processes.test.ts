/**
 * Two processes of `npm run app` on one PostgreSQL database, as the app scales out: the second
 * finds the demo seeded by the first and the auth secret it made; a log-in at one process is a
 * session at the other; and a team member chatting through both at once, near their cap, is
 * answered until the cap and refused after it, every answer charged once, nothing left held,
 * the ledger reconciled. Skipped, with a note, without TEST_DATABASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBilling, type Billing } from '../src/index.ts';
import { DEMO } from '../app/seed.ts';
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
    // One after the other: the first makes the schema, the secret and the demo; the second finds them.
    processes.push(await AppProcess.start(env));
    processes.push(await AppProcess.start(env));
    billing = await createBilling({ database: database.url! });
  }, 120_000);

  afterAll(async () => {
    for (const p of processes) await p.stop();
    await billing?.close();
    await database?.drop();
  });

  it('shares the demo, the sessions and the member cap across both', async () => {
    const [a, b] = processes as [AppProcess, AppProcess];
    expect(a.banner).not.toContain('made on an earlier start');
    expect(b.banner).toContain('made on an earlier start');
    const [team] = await database.sql.query<{ id: string }>(`SELECT id FROM accounts WHERE kind = 'team'`);
    expect(team).toBeDefined();

    // The member logs in at one process and works at the other.
    const atA = new AppClient(a.url);
    expect(await atA.post('/login', { email: DEMO.member.email, password: DEMO.member.password, next: '/' })).toMatchObject({ status: 303, location: '/' });
    await atA.post('/switch', { account: team!.id });
    const atB = atA.at(b.url);
    expect(await atB.page('/')).toContain(`<h1>${DEMO.team.name}</h1>`);

    // Near the cap (5 cents a day): 4.8 cents used already, as the member.
    const [member] = await database.sql.query<{ id: string }>(`SELECT id FROM auth_users WHERE email = $1`, [DEMO.member.email]);
    await billing.record(team!.id, { model: 'gpt-4o-mini', usage: { inputTokens: 160_000, outputTokens: 0 }, userId: member!.id }, { idempotencyKey: 'earlier' });

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
    expect(events[0]!.n).toBe(answered + 1);
    const pool = await billing.balance(team!.id);
    expect(pool.heldMicros).toBe(0);
    const cap = pool.members.find((m) => m.userId === member!.id)!.limits[0]!;
    expect(cap.used).toBeLessThanOrEqual(cap.amount);
    expect((await billing.reconcile(team!.id)).ok).toBe(true);
  }, 120_000);
});
