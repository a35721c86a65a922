/**
 * The whole loop in a real browser, as a newcomer meets it (`npm run app`'s app, Tollgate in its
 * process, one embedded database, the fake processor): a new user chats on the Free plan until
 * its daily limit refuses, with when it resets; opens Billing from the refusal, subscribes and
 * buys a pack; chats on. Then a team: a member invited by link chats on the team's pool, each
 * answer charged to the team as that member, until the cap the owner set refuses them; the
 * member's billing page shows the pool and their cap and nothing to buy. Screenshots go to
 * test-artifacts/app/. Skipped, with a note, without /usr/bin/chromium.
 *
 * Earlier usage stands in for most of a day's chatting (recorded as the app's own calls would
 * be), so that the last few answers, chatted here, are the ones that meet the limit.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApp } from '../app/start.ts';
import { APP_SHOTS as SHOTS, openAppBrowser, signUp, userIdOf, type AppBrowser } from './support/app-browser.ts';
import { haveChromium, noteMissingChromium } from './support/browser.ts';

noteMissingChromium("the app kit's end-to-end browser test is");

describe.skipIf(!haveChromium)('the app kit, end to end: free tier, refusal, purchase, team pool, member cap', () => {
  let world: AppBrowser;
  let app: RunningApp;
  const newPage = (width?: number, height?: number) => world.newPage(width, height);

  /** Asks in the chat; resolves with the answer's element once it is done, or the refusal's. */
  async function ask(page: Page, question: string) {
    const before = await page.locator('.chat-message.assistant, .chat-message.refusal').count();
    await page.fill('textarea[name=message]', question);
    await page.click('#chat-composer button[type=submit]');
    const reply = page.locator('.chat-message.assistant, .chat-message.refusal').nth(before);
    // One read in the page: a refusal replaces the meta line, so a second read could wait for a line that is gone.
    await expect.poll(() => reply.evaluate((node) => node.classList.contains('refusal') || /cost/.test(node.querySelector('.chat-meta')?.textContent ?? '')), { timeout: 20_000 }).toBe(true);
    return reply;
  }

  /** Chats until refused (at most `most` questions): the refusal, and how many were answered first. */
  async function chatUntilRefused(page: Page, most: number) {
    for (let answered = 0; answered < most; answered++) {
      const reply = await ask(page, `Question ${answered + 1}: what does a toll gate do?`);
      if ((await reply.getAttribute('class'))!.includes('refusal')) return { refusal: reply, answered };
    }
    throw new Error(`not refused after ${most} answers`);
  }

  beforeAll(async () => {
    world = await openAppBrowser({ APP_DEMO_WORD_DELAY_MS: '1' });
    app = world.app;
  });

  afterAll(() => world?.close());

  it('a new user meets the daily limit, buys, chats on; a member chats on the team pool until their cap', async () => {
    const billing = app.billing!;
    const ann = await newPage();
    await ann.goto(`${app.url}/login`);
    await signUp(ann, 'Ann Archer', 'ann@example.com');
    await ann.waitForURL(`${app.url}/`);
    const annAccount = `user_${await userIdOf(app, 'ann@example.com')}`;

    // Most of the Free plan's day (10 credits, $0.10) spent already: 9.8 credits.
    await billing.record(annAccount, { model: 'gpt-4o-mini', usage: { inputTokens: 326_667, outputTokens: 0 } }, { idempotencyKey: 'earlier-today' });
    const [day] = (await billing.balance(annAccount)).limits.filter((l) => l.window === 'day');
    expect(day!.amount - day!.used).toBeLessThan(2_500);

    // 1. Chat until the daily limit refuses: said in the chat, with when it resets.
    await ann.click('nav.menu >> text=Chat');
    await ann.waitForURL(`${app.url}/chat`);
    const first = await ask(ann, 'What does a toll gate do?');
    expect(await first.locator('.chat-meta').innerText()).toMatch(/cost/);
    const { refusal, answered } = await chatUntilRefused(ann, 10);
    expect(answered).toBeLessThan(10);
    const said = await refusal.innerText();
    expect(said).toMatch(/daily limit/i);
    expect(said).toMatch(/00:00 UTC/);
    await ann.screenshot({ path: `${SHOTS}/e2e-1-daily-limit.png`, fullPage: true });
    const refusedAt = (await billing.balance(annAccount)).limits.find((l) => l.window === 'day')!;
    expect(refusedAt.used).toBeLessThanOrEqual(refusedAt.amount);

    // 2. Billing from the refusal: subscribe to Plus, then buy a pack (an add-on to a paid plan).
    await refusal.locator('a', { hasText: /billing/i }).first().click();
    await ann.waitForURL(/\/billing/);
    await ann.locator('form[action="/billing/plan"]:has(input[value=plus]) button').click();
    await expect.poll(async () => (await billing.balance(annAccount)).plan.slug).toBe('plus');
    await ann.locator('form[action="/billing/purchase"] button').first().click();
    await expect.poll(() => ann.locator('body').innerText()).toContain('Bought');
    const afterPurchase = await billing.balance(annAccount);
    expect(afterPurchase.buckets.some((b) => b.source === 'pack')).toBe(true);
    await ann.screenshot({ path: `${SHOTS}/e2e-2-bought.png`, fullPage: true });
    const payments = await billing.payments(annAccount);
    expect(payments.map((p) => p.kind)).toContain('pack');

    // 3. Back to the app: the chat answers again, and the charge is the account's.
    await ann.locator('a', { hasText: 'Back to app' }).first().click();
    await ann.waitForURL(`${app.url}/chat`);
    const after = await ask(ann, 'And now?');
    expect(await after.getAttribute('class')).not.toContain('refusal');
    expect(await after.locator('.chat-meta').innerText()).toMatch(/cost/);
    await ann.screenshot({ path: `${SHOTS}/e2e-3-chat-on.png`, fullPage: true });
    expect((await billing.reconcile(annAccount)).ok).toBe(true);

    // 4. A team; Bob joins by the link; Ann caps him at 5 credits a day.
    await ann.goto(`${app.url}/teams/new`);
    await ann.fill('input[name=name]', "Ann's lab");
    await ann.click('text=Create the team');
    await ann.waitForURL(`${app.url}/team`);
    const teamAccount = (await ann.locator('select[name=account] option[selected]').getAttribute('value'))!;
    await ann.fill('input[name=email]', 'bob@example.com');
    await ann.click('text=Make an invitation link');
    const link = (await ann.locator('.note code.invite-link').textContent())!;
    const bob = await newPage(390, 820);
    await bob.goto(`${app.url}/login?next=${new URL(link).pathname}`);
    await signUp(bob, 'Bob Baker', 'bob@example.com');
    await bob.waitForURL(link);
    await bob.click('form[action$="/accept"] button');
    await bob.waitForURL(`${app.url}/`);
    const bobId = await userIdOf(app, 'bob@example.com');
    await ann.goto(`${app.url}/team`);
    await ann.locator('tr[data-member="bob@example.com"] input[name=amount]').fill('5');
    await ann.locator('tr[data-member="bob@example.com"] button').click();
    await expect.poll(() => ann.locator('.note').innerText()).toContain('Cap saved');

    // 5. Bob's chat draws on the team's pool, as Bob, until his cap refuses him.
    await billing.record(teamAccount, { model: 'gpt-4o-mini', usage: { inputTokens: 160_000, outputTokens: 0 }, userId: bobId }, { idempotencyKey: 'bob-earlier' });
    await bob.goto(`${app.url}/chat`);
    const bobFirst = await ask(bob, 'Hello from the team');
    expect(await bobFirst.locator('.chat-meta').innerText()).toMatch(/cost/);
    const today = new Date();
    const teamUsage = await billing.usage(teamAccount, { from: new Date(today.getTime() - 86_400_000), to: new Date(today.getTime() + 86_400_000), groupBy: 'user' });
    expect(teamUsage.rows.map((row) => row.key)).toEqual([bobId]);
    const bobRefused = await chatUntilRefused(bob, 10);
    expect(await bobRefused.refusal.innerText()).toMatch(/cap|member/i);
    await bob.screenshot({ path: `${SHOTS}/e2e-4-member-cap-phone.png`, fullPage: true });
    // The team's pool is not what stopped him: it has most of its day left.
    const pool = await billing.balance(teamAccount);
    const poolDay = pool.limits.find((l) => l.window === 'day')!;
    expect(poolDay.used).toBeLessThan(poolDay.amount);
    const cap = pool.members.find((m) => m.userId === bobId)!.limits[0]!;
    expect(cap.used).toBeLessThanOrEqual(cap.amount);

    // 6. Bob's billing page: the pool and his cap, and nothing to buy.
    await bobRefused.refusal.locator('a', { hasText: /billing/i }).first().click();
    await bob.waitForURL(/\/billing/);
    const page = await bob.locator('body').innerText();
    expect(page).toContain('your cap');
    expect(await bob.locator('form[action="/billing/purchase"], form[action="/billing/plan"]').count()).toBe(0);
    await bob.screenshot({ path: `${SHOTS}/e2e-5-member-billing-phone.png`, fullPage: true });

    expect(world.problems).toEqual([]);
  }, 240_000);
});
