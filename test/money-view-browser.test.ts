/**
 * The money view in a real browser (Debian's chromium driven by playwright-core) against the
 * server app, on the told story of support/money-story.ts: the cards say the hand sums, the
 * charts are drawn from days that add up to them, the by-day table's total row says them again,
 * and the CSV the page links to, downloaded with the session, adds up to them too. Screenshots go
 * to test-artifacts/. Skipped, with a note, when /usr/bin/chromium is missing.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeProcessor, type Billing } from '../src/index.ts';
import { ADMIN_PASSWORD } from './support/admin-client.ts';
import { adminPage, ARTIFACTS, haveChromium, noteMissingChromium, serveToBrowser, type ServedBrowser } from './support/browser.ts';
import { billingInMemory, TestClock } from './support/harness.ts';
import { HAND, moneyStory, RANGE } from './support/money-story.ts';
import { signedProcessor } from './support/signed-processor.ts';

noteMissingChromium('the money view\'s browser tests are');

describe.skipIf(!haveChromium)('the money view in a browser', () => {
  const clock = new TestClock(new Date('2026-03-01T00:00:00Z'));
  let billing: Billing;
  let served: ServedBrowser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const fake = fakeProcessor();
    billing = await billingInMemory({ clock: clock.read, processors: [fake, signedProcessor()] });
    await moneyStory(billing, clock, billing.sql, fake);
    served = await serveToBrowser(billing);
  });

  afterAll(async () => {
    await served?.close();
    await billing?.close();
  });

  /** A chart's series as drawn: each label with its days' micro-dollars added up. */
  const chartTotals = (page: Page, id: string) =>
    page.locator(`#${id}`).evaluate((el) => {
      const data = JSON.parse((el as HTMLElement).dataset.series!) as { series: { label: string; micros: number[] }[] };
      return Object.fromEntries(data.series.map((s) => [s.label, s.micros.reduce((a, b) => a + b, 0)]));
    });

  it('shows money collected beside usage value, cost and margin; cards, charts, the total row and the CSV agree with the hand sums', async () => {
    const problems: string[] = [];
    const page = await adminPage(served.browser, served.base, ADMIN_PASSWORD, problems);
    await page.goto(`${served.base}/admin/analytics${RANGE}`);
    await page.locator('#collected-chart[data-drawn="true"] canvas').first().waitFor();
    await page.locator('#usage-chart[data-drawn="true"] canvas').first().waitFor();

    // The cards.
    const card = (name: string) => page.locator(`[data-figure="${name}"]`).innerText();
    expect(await card('collected')).toBe('$46.00');
    expect(await card('usage-value')).toBe('$3.44');
    expect(await card('provider-cost')).toBe('$1.73');
    expect(await card('margin')).toBe('$1.72');
    expect(await page.locator('.tile', { hasText: 'Money collected' }).innerText()).toContain('$60.00 paid in 5 payments, less $4.00 refunded and $10.00 disputed');

    // The charts: drawn, wide, from days that add up to the cards' figures, and titled with them.
    for (const id of ['collected-chart', 'usage-chart']) expect((await page.locator(`#${id} canvas`).first().boundingBox())!.width).toBeGreaterThan(600);
    expect(await chartTotals(page, 'collected-chart')).toEqual({
      Paid: HAND.collected.paidCents * 10_000, 'Refunded and disputed': (HAND.collected.refundedCents + HAND.collected.disputedCents) * 10_000, Collected: HAND.collected.netCents * 10_000,
    });
    expect(await chartTotals(page, 'usage-chart')).toEqual({ 'Usage value charged': HAND.usage.valueMicros, 'Provider cost': HAND.usage.costMicros, Margin: HAND.usage.marginMicros });
    expect(await page.locator('section.card h2', { hasText: 'Money collected by day' }).innerText()).toContain('$46.00 in all');
    expect(await page.locator('section.card h2', { hasText: 'Usage by day' }).innerText()).toContain('$3.44 charged, $1.73 provider cost, $1.72 margin');

    // The tables: by processor and kind, by model, and the days' total row.
    expect(await page.locator('#by-source tbody tr').allInnerTexts()).toEqual([
      expect.stringMatching(/^signed\s+Subscriptions\s+1\s+\$20\.00\s+—\s+—\s+\$20\.00$/),
      expect.stringMatching(/^fake\s+Packs\s+1\s+\$10\.00\s+—\s+—\s+\$10\.00$/),
      expect.stringMatching(/^fake\s+Auto-recharges\s+1\s+\$10\.00\s+—\s+—\s+\$10\.00$/),
      expect.stringMatching(/^signed\s+Packs\s+2\s+\$20\.00\s+\$4\.00\s+\$10\.00\s+\$6\.00$/),
    ]);
    expect(await page.locator('#by-model tbody tr').allInnerTexts()).toEqual([expect.stringMatching(/^test-model\s/), expect.stringMatching(/^gpt-4o-mini\s/)]);
    await page.click('details.days > summary');
    expect(await page.locator('#by-day tfoot tr').innerText()).toMatch(/^Total\s+5\s+\$60\.00\s+\$4\.00\s+\$10\.00\s+\$46\.00\s+3\s+\$3\.44\s+\$0\.01\s+\$1\.73\s+\$1\.72\s+49\.85%$/); // 1,717,000 / 3,444,000
    await page.screenshot({ path: `${ARTIFACTS}/money-view.png`, fullPage: true });

    // The CSV the page links to, with the session's cookie: its days add up to the cards.
    const href = await page.locator('.range .exports a', { hasText: 'by day' }).getAttribute('href');
    const csv = await page.context().request.get(`${served.base}${href}`);
    expect(csv.status()).toBe(200);
    const [head, ...rows] = (await csv.text()).trim().split('\n').map((line) => line.split(','));
    const column = (name: string) => rows.map((r) => r[head!.indexOf(name)]!);
    const cents = (values: string[]) => values.reduce((s, v) => s + Number(v.replace('.', '')), 0); // "10.00" → 1000: fixed two decimals
    expect(column('day')).toEqual(['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05']);
    expect(cents(column('collected_usd'))).toBe(HAND.collected.netCents);
    const micros = (values: string[]) => values.reduce((s, v) => s + Number(v.replace('.', '')), 0); // fixed six decimals
    expect(micros(column('usage_value_usd'))).toBe(HAND.usage.valueMicros);
    expect(micros(column('margin_usd'))).toBe(HAND.usage.marginMicros);
    // Without the session, no CSV.
    const anonymous = await served.browser.newContext();
    const refused = await anonymous.request.get(`${served.base}${href}`, { maxRedirects: 0 });
    expect(refused.status()).not.toBe(200);
    await anonymous.close();
    await page.context().close();
    expect(problems).toEqual([]);
  });

  it('draws one day as one day, its bars standing on zero', async () => {
    const problems: string[] = [];
    const page = await adminPage(served.browser, served.base, ADMIN_PASSWORD, problems);
    // 2026-03-03: every call of the story, $3.44 of usage value beside $1.73 of cost and $1.72 of margin.
    await page.goto(`${served.base}/admin/analytics?from=2026-03-03&to=2026-03-03`);
    const day = Date.parse('2026-03-03T00:00:00Z') / 1000; // a day's bar is drawn at its start
    for (const id of ['collected-chart', 'usage-chart']) {
      const chart = page.locator(`#${id}[data-scales]`);
      await chart.locator('canvas').first().waitFor();
      const scales = JSON.parse((await chart.getAttribute('data-scales'))!) as { x: [number, number]; y: [number, number] };
      expect(scales.x, id).toEqual([day - 43_200, day + 43_200]);
      expect(scales.y[0], id).toBe(0);
      expect(scales.y[1], id).toBeGreaterThan(0);
    }
    await page.screenshot({ path: `${ARTIFACTS}/money-view-one-day.png`, fullPage: true });
    await page.context().close();
    expect(problems).toEqual([]);
  });
});
