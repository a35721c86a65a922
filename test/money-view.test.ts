/**
 * The money view on a told story, on both engines: two packs and a subscription paid through one
 * processor, a pack and an auto-recharge through another, usage on two models with a usage
 * refund, a partial refund, a dispute lost and one won, and a payment either side of the range. The read's
 * total, its days, its sources and its models, the panel's cards and charts, its three CSVs and
 * the API all carry the same figures, and those are the story's hand sums, to the cent and the
 * micro-dollar.
 */
import { describe, expect, it } from 'vitest';
import { fakeProcessor } from '../src/index.ts';
import { AdminClient, adminApp } from './support/admin-client.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { HAND, MINI_COST, moneyStory, RANGE, TEST_MODEL_COST, USAGE_REFUND } from './support/money-story.ts';
import { SIGNED, signedProcessor } from './support/signed-processor.ts';

const SECRET_KEY = 'tg_sk_test_0123456789abcdefghij';

/** A CSV's rows as objects, by its header. */
function rowsOf(csv: string): Record<string, string>[] {
  const [head, ...lines] = csv.trim().split('\n');
  const names = head!.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((cell, i) => [names[i]!, cell])));
}

/** A fixed-point dollar string as an integer of its smallest unit ("46.00" → 4600, "0.054000" → 54000), with no float in between. */
function units(decimal: string, digits: number): number {
  const match = new RegExp(`^(-?)(\\d+)\\.(\\d{${digits}})$`).exec(decimal);
  if (!match) throw new Error(`not a dollar amount with ${digits} decimals: ${decimal}`);
  return (match[1] ? -1 : 1) * (Number(match[2]) * 10 ** digits + Number(match[3]));
}
const sum = <T>(rows: T[], of: (row: T) => number) => rows.reduce((s, r) => s + of(r), 0);

for (const engine of ENGINES) {
  describe(`the money view on ${engine.name}`, () => {
    const fake = fakeProcessor();
    const t = useBilling(engine, { processors: [fake, signedProcessor()] });

    it('adds the story up once: the total, the days, the sources, the models, the cards, the charts, the CSVs and the API all equal the hand sums', async () => {
      await moneyStory(t.billing, t.clock, t.sql, fake);
      const { billing } = t;
      const view = await billing.admin.analytics({ from: '2026-03-01', to: '2026-03-06' });

      // The total is the hand sum, to the cent and the micro-dollar.
      expect(view.total.collected).toEqual(HAND.collected);
      expect(view.total.usage).toMatchObject(HAND.usage);

      // Each payment on its day, each refund and dispute on the day it applied.
      expect(view.days.map((d) => d.day)).toEqual(['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05']);
      expect(view.days.map((d) => d.collected.netCents)).toEqual([0, 50_00, 10_00, -20_00, 6_00]);
      expect(view.days.map((d) => d.collected.disputedCents)).toEqual([0, 0, 0, 16_00, -6_00]);
      expect(view.days[2]!.usage).toMatchObject(HAND.usage);

      // By processor and kind: a recharge is told apart from a pack bought.
      expect(view.sources).toEqual([
        { processor: SIGNED, kind: 'subscription', payments: 1, paidCents: 20_00, refundedCents: 0, disputedCents: 0, netCents: 20_00 },
        { processor: 'fake', kind: 'pack', payments: 1, paidCents: 10_00, refundedCents: 0, disputedCents: 0, netCents: 10_00 },
        { processor: 'fake', kind: 'recharge', payments: 1, paidCents: 10_00, refundedCents: 0, disputedCents: 0, netCents: 10_00 },
        { processor: SIGNED, kind: 'pack', payments: 2, paidCents: 20_00, refundedCents: 4_00, disputedCents: 10_00, netCents: 6_00 },
      ]);
      expect(view.models.map((m) => [m.model, m.costMicros, m.valueMicros])).toEqual([
        ['test-model', TEST_MODEL_COST, 2 * TEST_MODEL_COST],
        ['gpt-4o-mini', MINI_COST, 2 * MINI_COST - USAGE_REFUND],
      ]);
      for (const field of ['payments', 'paidCents', 'refundedCents', 'disputedCents', 'netCents'] as const) {
        expect(sum(view.days, (d) => d.collected[field]), field).toBe(HAND.collected[field]);
        expect(sum(view.sources, (s) => s[field]), field).toBe(HAND.collected[field]);
      }
      for (const field of ['events', 'chargedMicros', 'refundedMicros', 'valueMicros', 'costMicros', 'marginMicros'] as const) {
        expect(sum(view.days, (d) => d.usage[field]), field).toBe(HAND.usage[field]);
        expect(sum(view.models, (m) => m[field]), field).toBe(HAND.usage[field]);
      }

      const admin = new AdminClient(await adminApp(billing));
      await admin.login();

      // The page: the cards say the hand sums; the charts' data adds up to them.
      const { status, html } = await admin.page(`/admin/analytics${RANGE}`);
      expect(status).toBe(200);
      const card = (name: string) => new RegExp(`data-figure="${name}"[^>]*>([^<]+)<`).exec(html)?.[1];
      expect(card('collected')).toBe('$46.00');
      // $3.444000 charged, $1.727000 cost, $1.717000 margin: to the cent from a dollar up.
      expect(HAND.usage).toMatchObject({ valueMicros: 3_444_000, costMicros: 1_727_000, marginMicros: 1_717_000 });
      expect(card('usage-value')).toBe('$3.44');
      expect(card('provider-cost')).toBe('$1.73');
      expect(card('margin')).toBe('$1.72');
      // By model and by day, the value is net of usage refunds (gpt-4o-mini's 2 × MINI_COST less
      // USAGE_REFUND, above), and the refunds' column says they were taken off it, not that they are part of it.
      expect(html.match(/>Refunds taken off</g)).toHaveLength(2);
      expect(html).not.toContain('of which refunded');
      const chart = (id: string) => {
        const raw = new RegExp(`id="${id}"[^>]*data-series="([^"]+)"`).exec(html)?.[1] ?? new RegExp(`data-series="([^"]+)"[^>]*id="${id}"`).exec(html)?.[1];
        const data = JSON.parse(raw!.replaceAll('&quot;', '"')) as { x: number[]; series: { label: string; micros: number[] }[] };
        return Object.fromEntries(data.series.map((s) => [s.label, sum(s.micros, (m) => m)]));
      };
      expect(chart('collected-chart')).toEqual({ Paid: 60_00 * 10_000, 'Refunded and disputed': 14_00 * 10_000, Collected: 46_00 * 10_000 });
      expect(chart('usage-chart')).toEqual({ 'Usage value charged': HAND.usage.valueMicros, 'Provider cost': HAND.usage.costMicros, Margin: HAND.usage.marginMicros });

      // The CSVs: fixed-point dollars whose columns add up to the same figures.
      const csv = async (by: string) => {
        const res = await admin.request(`/admin/analytics.csv${RANGE}&by=${by}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('Content-Type')).toContain('text/csv');
        return rowsOf(await res.text());
      };
      const days = await csv('day');
      expect(Object.keys(days[0]!)).toEqual([
        'day', 'payments', 'paid_usd', 'refunded_usd', 'disputed_usd', 'collected_usd', 'usage_calls', 'input_tokens', 'output_tokens',
        'usage_charged_usd', 'usage_refunded_usd', 'usage_value_usd', 'provider_cost_usd', 'margin_usd',
      ]);
      expect(days.map((d) => d.day)).toEqual(view.days.map((d) => d.day));
      expect(days[3]).toMatchObject({ day: '2026-03-04', payments: '0', paid_usd: '0.00', refunded_usd: '4.00', disputed_usd: '16.00', collected_usd: '-20.00' });
      expect(days[4]).toMatchObject({ day: '2026-03-05', disputed_usd: '-6.00', collected_usd: '6.00' });
      const sources = await csv('source');
      const models = await csv('model');
      for (const [rows, name] of [[days, 'day'], [sources, 'source']] as const) {
        expect(sum(rows, (r) => Number(r.payments)), name).toBe(HAND.collected.payments);
        expect(sum(rows, (r) => units(r.paid_usd!, 2)), name).toBe(HAND.collected.paidCents);
        expect(sum(rows, (r) => units(r.refunded_usd!, 2)), name).toBe(HAND.collected.refundedCents);
        expect(sum(rows, (r) => units(r.disputed_usd!, 2)), name).toBe(HAND.collected.disputedCents);
        expect(sum(rows, (r) => units(r.collected_usd!, 2)), name).toBe(HAND.collected.netCents);
      }
      for (const [rows, name] of [[days, 'day'], [models, 'model']] as const) {
        expect(sum(rows, (r) => Number(r.usage_calls)), name).toBe(HAND.usage.events);
        expect(sum(rows, (r) => units(r.usage_charged_usd!, 6)), name).toBe(HAND.usage.chargedMicros);
        expect(sum(rows, (r) => units(r.usage_refunded_usd!, 6)), name).toBe(HAND.usage.refundedMicros);
        expect(sum(rows, (r) => units(r.usage_value_usd!, 6)), name).toBe(HAND.usage.valueMicros);
        expect(sum(rows, (r) => units(r.provider_cost_usd!, 6)), name).toBe(HAND.usage.costMicros);
        expect(sum(rows, (r) => units(r.margin_usd!, 6)), name).toBe(HAND.usage.marginMicros);
      }
      expect(sources.map((s) => `${s.processor}/${s.kind}`)).toEqual(['signed/subscription', 'fake/pack', 'fake/recharge', 'signed/pack']);

      // The API: the same read, as JSON.
      const app = await adminApp(billing);
      const api = await app.request(`/v1/admin/analytics?from=2026-03-01&to=2026-03-06`, { headers: { Authorization: `Bearer ${SECRET_KEY}` } });
      expect(api.status).toBe(200);
      expect(await api.json()).toEqual(JSON.parse(JSON.stringify(view)));
      const bad = await app.request(`/v1/admin/analytics?from=2026-03-06&to=2026-03-01`, { headers: { Authorization: `Bearer ${SECRET_KEY}` } });
      expect(bad.status).toBe(400);
      expect(JSON.stringify(await bad.json())).toContain('from must be before to');
    });

    it('shows an empty range as zeros, days and all, and refuses a range backwards or too long', async () => {
      const view = await t.billing.admin.analytics({ from: '2026-03-01', to: '2026-03-03' });
      expect(view.days.map((d) => [d.day, d.collected.netCents, d.usage.valueMicros])).toEqual([['2026-03-01', 0, 0], ['2026-03-02', 0, 0]]);
      expect(view.sources).toEqual([]);
      expect(view.models).toEqual([]);
      await expect(t.billing.admin.analytics({ from: '2026-03-05', to: '2026-03-01' })).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(t.billing.admin.analytics({ from: '2020-01-01', to: '2026-03-01' })).rejects.toThrow(/at most 1000 days/);
    });
  });
}
