/**
 * The app's chat in a real browser (Debian's chromium through playwright-core), on a real
 * port: send a question and watch the answer stream in word by word, then its tokens and cost;
 * stop an answer half way; be refused, with the reason, when the limit resets and the billing
 * link; at desktop and phone width. Screenshots go to test-artifacts/.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatModels } from '../app/models/models.ts';
import { inProcessTollgate } from '../app/tollgate/in-process.ts';
import { amount } from '../src/billing-page/money.ts';
import { ARTIFACTS, haveChromium, launchChromium, noteMissingChromium, serveApp } from './support/browser.ts';
import { chatApp, chatWorld, priceOf } from './support/chat-world.ts';
import { ENGINES } from './support/harness.ts';
import { useApi } from './support/http.ts';

noteMissingChromium('the chat\'s browser tests are');

/** The pause before each word while a stream is watched, while only its end is awaited, and while it is held open to be stopped. */
const [WATCHED, AWAITED, HELD] = [40, 1, 250];

describe.skipIf(!haveChromium)('the chat in a browser', () => {
  const api = useApi(ENGINES[0]!);
  let browser: Browser;
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** The chat as `account` at a width, with its script's errors collected. */
  async function open(base: string, account: string, problems: string[], width = 1100): Promise<Page> {
    const context = await browser.newContext({ viewport: { width, height: width < 600 ? 844 : 800 }, extraHTTPHeaders: { 'x-account': account } });
    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    // A failed load is told by its response below, with its address (the browser's own favicon request aside).
    page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && problems.push(m.text()));
    page.on('response', (r) => r.status() >= 400 && !r.url().endsWith('/favicon.ico') && problems.push(`${r.status()} ${r.url()}`));
    await page.goto(`${base}/chat`);
    return page;
  }

  it('streams an answer word by word with its tokens and cost, stops one half way, and shows a refusal with its remedy', async () => {
    const marginBps = await chatWorld(api.billing);
    const tollgate = inProcessTollgate({ billing: api.billing, server: api.app, billingLink: async () => 'http://billing.test/' });
    // Words come slowly while the test watches a stream (a check of one mid-stream must not find
    // it ended) and quickly while it only waits for one to end.
    let wordDelayMs = WATCHED;
    const server = await serveApp(chatApp(tollgate, await chatModels({ env: {}, wordDelayMs: () => wordDelayMs }), api.clock));
    const problems: string[] = [];
    try {
      const page = await open(server.base, 'ann', problems);
      await expect.poll(() => page.locator('#chat-summary').innerText()).toContain('Free plan');
      expect(await page.locator('select[name=model] option').allInnerTexts()).toEqual(['GPT-4o mini (demo)', 'Claude Haiku 4.5 (demo)']);
      expect(await page.locator('#chat-other-models').innerText()).toContain('Not on your plan: GPT-4o (demo), Claude Sonnet 4.5 (demo)');
      expect(await page.locator('#chat-summary').innerText()).toContain('Today: $0.00 of $0.10');

      await page.fill('textarea[name=message]', 'What does a toll gate do?');
      await page.click('#chat-composer button[type=submit]');
      const answer = page.locator('.chat-message.assistant').first();
      // Seen while it streams: part of the text, the Stop button, no cost yet.
      await expect.poll(() => answer.locator('.chat-text').innerText()).toMatch(/\S+ \S+ \S+/);
      expect(await answer.getAttribute('class')).toContain('streaming');
      expect(await page.locator('[data-stop]').isVisible()).toBe(true);
      const partial = await answer.locator('.chat-text').innerText();
      wordDelayMs = AWAITED;
      await expect.poll(() => answer.locator('.chat-meta').innerText(), { timeout: 15_000 }).toMatch(/cost \$0\.\d+/);
      const full = await answer.locator('.chat-text').innerText();
      expect(full.length).toBeGreaterThan(partial.length);
      expect(full).toContain('You asked: “What does a toll gate do?”.');
      const meta = await answer.locator('.chat-meta').innerText();
      const [, input, output, cost] = /^([\d,]+) tokens in · ([\d,]+) tokens out · cost (\$0\.\d+)$/.exec(meta)!;
      // The charge, said as the billing page says it.
      const price = priceOf('gpt-4o-mini', { inputTokens: Number(input!.replace(/,/g, '')), outputTokens: Number(output!.replace(/,/g, '')) }, marginBps);
      const settings = await api.billing.admin.getSettings();
      expect(cost).toBe(amount(price, settings));
      // The line above the chat follows the charge: the day's use is the answer's; what is left, said to three digits, may read as before.
      await expect.poll(() => page.locator('#chat-summary').innerText()).toContain(`Today: ${amount(price, settings)} of $0.10`);
      expect(await page.locator('[data-available]').innerText()).toBe(amount((await api.billing.balance('ann')).availableMicros, settings));
      await page.screenshot({ path: `${ARTIFACTS}/app-chat-answer.png`, fullPage: true });

      // Stop half way: the answer keeps what came, says what was charged, and the hold is freed.
      wordDelayMs = WATCHED;
      await page.fill('textarea[name=message]', 'Tell me everything about holds and packs');
      await page.click('#chat-composer button[type=submit]');
      const second = page.locator('.chat-message.assistant').nth(1);
      await expect.poll(() => second.locator('.chat-text').innerText()).toMatch(/(\S+ ){4}/);
      await page.click('[data-stop]');
      await expect.poll(() => second.locator('.chat-meta').innerText()).toContain('Stopped: charged for what was streamed');
      await expect.poll(async () => (await api.billing.balance('ann')).heldMicros).toBe(0);
      const events = await api.sql.query<{ metadata: { aiCall?: { finishReason?: string } } }>('SELECT metadata FROM usage_events WHERE account_id = $1 ORDER BY id', ['ann']);
      expect(events.map((e) => e.metadata.aiCall?.finishReason)).toEqual(['stop', 'aborted']);
      await page.screenshot({ path: `${ARTIFACTS}/app-chat-stopped.png`, fullPage: true });

      // Refused: bea's day is spent.
      const refused = await open(server.base, 'bea', problems);
      await refused.fill('textarea[name=message]', 'One more question?');
      await refused.click('#chat-composer button[type=submit]');
      const refusal = refused.locator('.chat-message.refusal');
      await expect.poll(() => refusal.count()).toBe(1);
      const said = await refusal.innerText();
      expect(said).toMatch(/Not answered\. .*daily limit of \$0\.10/s);
      expect(said).toContain('Try again after 00:00 UTC on Mar 11');
      expect(await refusal.locator('a', { hasText: 'Open billing' }).getAttribute('href')).toBe('/billing');
      expect(await refused.locator('#chat-composer button[type=submit]').isDisabled()).toBe(false);
      await refused.screenshot({ path: `${ARTIFACTS}/app-chat-refusal.png`, fullPage: true });

      // At phone width: one column, nothing wider than the screen.
      const phone = await open(server.base, 'bea', problems, 390);
      await phone.fill('textarea[name=message]', 'And now?');
      await phone.click('#chat-composer button[type=submit]');
      await expect.poll(() => phone.locator('.chat-message.refusal').count()).toBe(1);
      expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await phone.screenshot({ path: `${ARTIFACTS}/app-chat-phone.png`, fullPage: true });

      // A long conversation at phone width: the words streaming in stay in sight, above the composer.
      const reader = await open(server.base, 'ann', problems, 390);
      for (const question of ['First question', 'Second question', 'Third question']) {
        await reader.fill('textarea[name=message]', question);
        await reader.click('#chat-composer button[type=submit]');
        await expect.poll(() => reader.locator('.chat-message.streaming').count()).toBe(1);
        if (question === 'Third question') break;
        wordDelayMs = AWAITED;
        await expect.poll(() => reader.locator('.chat-message.streaming').count(), { timeout: 15_000 }).toBe(0);
        wordDelayMs = WATCHED;
      }
      const streaming = reader.locator('.chat-message.streaming');
      await expect.poll(() => streaming.locator('.chat-text').innerText()).toMatch(/(\S+ ){12}/);
      wordDelayMs = HELD; // still streaming, however slow the checks below, until it is stopped
      const [message, composer] = [await streaming.boundingBox(), await reader.locator('#chat-composer').boundingBox()];
      expect(message!.y + message!.height).toBeLessThanOrEqual(composer!.y + 1);
      expect(composer!.y + composer!.height).toBeLessThanOrEqual(844);
      const stop = await reader.locator('[data-stop]').boundingBox();
      expect(stop!.x + stop!.width).toBeLessThanOrEqual(composer!.x + composer!.width);
      await reader.screenshot({ path: `${ARTIFACTS}/app-chat-phone-streaming.png` });
      // Stopped, so that no answer is still being charged when the server and database close.
      await reader.click('[data-stop]');
      await expect.poll(async () => (await api.billing.balance('ann')).heldMicros).toBe(0);
      expect(problems).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
