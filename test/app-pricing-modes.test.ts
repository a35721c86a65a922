/**
 * The README's walk through the pricing modes, checked: each mode applied in Tollgate changes the
 * plans and packs the app shows, and in the credit packs mode a new user chats until the welcome
 * allowance is spent, is offered a pack, buys one, and chats on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../app/start.ts';
import { AppClient } from './support/app-client.ts';
import { ENGINES, type Engine } from './support/harness.ts';
import { userIdOf, PASSWORD } from './support/app-browser.ts';

const question = (text: string) => [{ id: 'q1', role: 'user', parts: [{ type: 'text', text }] }];

describe('the pricing modes, as the app shows them', () => {
  let database: Awaited<ReturnType<Engine['open']>>;
  let app: RunningApp;
  let ann: AppClient;

  beforeAll(async () => {
    // An embedded database from the run's migrated image: as memory:// would be, without migrating it here.
    database = await ENGINES[0]!.open();
    app = await startApp({ APP_PORT: '0', DATABASE_URL: 'memory://', LOG_LEVEL: 'silent', APP_DEMO_WORD_DELAY_MS: '0' }, { database: database.sql });
    ann = new AppClient(app.url);
    await ann.post('/signup', { name: 'Ann Archer', email: 'ann@example.com', password: PASSWORD, next: '/' });
  });
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  const plansShown = (html: string) => [...html.matchAll(/<div class="card plan[^"]*"><h3>([^<]+)/g)].map((m) => m[1]!.trim());

  it('shows each mode\'s plans and packs once it is applied', async () => {
    const first = await ann.page('/');
    expect(plansShown(first)).toEqual(['Free', 'Plus', '1,000 extra credits']);
    // A plan's models by the chat's names for them, not the plan's patterns ("claude-haiku-*").
    const models = [...first.matchAll(/<p class="muted">((?:Models: |Every model|None of)[^<]*)<\/p>/g)].map((m) => m[1]);
    expect(models).toEqual(['Models: GPT-4o mini (demo), Claude Haiku 4.5 (demo)', 'Every model']);
    const expected = {
      'usage-subscription': ['Free', 'Pro'],
      tiers: ['Free', 'Starter', 'Pro', 'Max'],
      'credit-packs': ['Pay as you go', '1,000 credits', '5,500 credits'],
    } as const;
    for (const [mode, plans] of Object.entries(expected)) {
      await app.billing!.admin.applyPreset(mode as keyof typeof expected);
      expect(plansShown(await ann.page('/')), mode).toEqual(plans);
    }
  });

  it('in the credit packs mode, refuses once the welcome allowance is spent, offers a pack, and answers again once one is bought', async () => {
    const billing = app.billing!;
    await billing.admin.applyPreset('credit-packs');
    const bea = new AppClient(app.url);
    await bea.post('/signup', { name: 'Bea', email: 'bea@example.com', password: PASSWORD, next: '/' });
    const account = `user_${await userIdOf(app, 'bea@example.com')}`;
    expect((await billing.balance(account)).plan.slug).toBe('payg');
    // Most of the $0.10 welcome allowance spent already.
    await billing.record(account, { model: 'gpt-4o-mini', usage: { inputTokens: 326_667, outputTokens: 0 } }, { idempotencyKey: 'earlier' });
    const ask = async () => (await (await bea.request('/chat/answers', { json: { model: 'gpt-4o-mini', messages: question('Hello?') } })).text());
    let reply = await ask();
    for (let i = 0; i < 10 && !reply.includes('data-refusal'); i++) reply = await ask();
    expect(reply).toContain('data-refusal');
    expect(reply).toContain('insufficient_balance');
    expect(reply).toContain('Buy a credit pack');
    await billing.purchase(account, 'credits-10', { idempotencyKey: 'bea-pack' });
    const after = await ask();
    expect(after).not.toContain('data-refusal');
    expect(after).toContain('text-delta');
    expect((await billing.reconcile(account)).ok).toBe(true);
  });
});
