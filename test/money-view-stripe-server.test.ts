/**
 * The money view against Stripe's own books, end to end: the server with two workers on
 * PostgreSQL (the refund tests' world), the real SDK against the local fake, webhooks signed as
 * Stripe signs them. Two accounts subscribe (one renews) and buy packs; one pack is refunded in
 * part from Stripe's dashboard, another disputed and lost, a third disputed and won; some usage
 * is recorded. What GET /v1/admin/analytics says was paid, refunded, disputed and collected, by
 * kind and in total, is what the fake's payment intents, refunds and disputes add up to.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { refundWorld, type RefundWorld } from './support/refund-world.ts';
import { StripeFake } from './support/stripe-fake.ts';

const skipped = POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)';
const DAY_MS = 86_400_000;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe.skipIf(skipped !== '')(`the money view against Stripe's books${skipped}`, () => {
  it('says what Stripe says was paid, refunded, disputed and kept, by kind and in total', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const stripe = await StripeFake.start();
    let world: RefundWorld | undefined;
    const lastSession = () => [...stripe.sessions.keys()].at(-1)!;
    try {
      world = await refundWorld(db, { TOLLGATE_PROCESSOR: 'stripe', STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, STRIPE_API_BASE: stripe.url });
      const { call } = world;
      stripe.webhookUrl = `${world.base}/webhooks/stripe`;
      expect((await call('POST', '/v1/admin/presets/subscription-plus-packs/apply', {}, 'plus-preset')).status).toBe(200);
      await call('PATCH', '/v1/admin/plans/plus', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 20_00, interval: 'month' }) } });
      await call('PATCH', '/v1/admin/packs/extra-10', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 10_00 }) } });

      const packs: Record<string, string[]> = {};
      for (const id of ['acme', 'globex']) {
        await call('PUT', `/v1/accounts/${id}`, { kind: 'team' });
        expect((await call('POST', `/v1/accounts/${id}/subscription`, { plan: 'plus', successUrl: 'https://app.example/ok' }, `${id}-sub`)).status).toBe(202);
        await stripe.completeCheckout(lastSession());
        packs[id] = [];
        for (const n of [1, 2]) {
          expect((await call('POST', `/v1/accounts/${id}/purchases`, { pack: 'extra-10', successUrl: 'https://app.example/ok' }, `${id}-pack-${n}`)).status).toBe(202);
          await stripe.completeCheckout(lastSession());
          packs[id]!.push(stripe.sessions.get(lastSession())!.payment_intent as string);
        }
        const used = await call('POST', `/v1/accounts/${id}/usage-records`, { model: 'gpt-4o-mini', usage: { inputTokens: 100_000, outputTokens: 20_000 } }, `${id}-use`);
        expect(used.status).toBe(200);
      }
      await stripe.renew([...stripe.subscriptions.keys()][0]!);
      await stripe.refundFromDashboard(packs.acme![0]!, 3_00);
      const { disputeId } = await stripe.dispute(packs.globex![1]!, 7_00);
      await stripe.closeDispute(disputeId, 'lost');
      const { disputeId: won } = await stripe.dispute(packs.globex![0]!);
      await stripe.closeDispute(won, 'won');

      // Stripe's books: every payment is a payment intent; an invoice's is named by its invoice payment.
      const ofInvoices = new Set([...stripe.invoicePayments.values()].map((p) => p.payment.payment_intent as string));
      const paid = [...stripe.paymentIntents.values()].filter((p) => p.status === 'succeeded');
      const invoices = paid.filter((p) => ofInvoices.has(p.id));
      const intents = paid.filter((p) => !ofInvoices.has(p.id));
      const refunds = [...stripe.refunds.values()].filter((r) => r.status === 'succeeded');
      const disputes = [...stripe.disputes.values()].filter((d) => d.status !== 'won'); // a dispute won gave the money back
      const add = (rows: Json[], field: string) => rows.reduce((s, r) => s + (r[field] as number), 0);
      const books = {
        subscriptions: add(invoices, 'amount_received'), packs: add(intents, 'amount_received'), refunded: add(refunds, 'amount'), disputed: add(disputes, 'amount'),
      };
      expect(books).toEqual({ subscriptions: 3 * 20_00, packs: 4 * 10_00, refunded: 3_00, disputed: 7_00 });

      const now = Date.now();
      const range = `from=${new Date(now - DAY_MS).toISOString().slice(0, 10)}&to=${new Date(now + DAY_MS).toISOString().slice(0, 10)}`;
      const view = (await call('GET', `/v1/admin/analytics?${range}`)).body;
      expect(view.total.collected).toEqual({
        payments: invoices.length + intents.length, paidCents: books.subscriptions + books.packs, refundedCents: books.refunded, disputedCents: books.disputed,
        netCents: books.subscriptions + books.packs - books.refunded - books.disputed,
      });
      expect(view.sources).toEqual([
        { processor: 'stripe', kind: 'subscription', payments: invoices.length, paidCents: books.subscriptions, refundedCents: 0, disputedCents: 0, netCents: books.subscriptions },
        { processor: 'stripe', kind: 'pack', payments: intents.length, paidCents: books.packs, refundedCents: books.refunded, disputedCents: books.disputed, netCents: books.packs - books.refunded - books.disputed },
      ]);
      // Usage beside it: two calls of gpt-4o-mini (100k in, 20k out: $0.027 of cost each), at the preset's margin.
      expect(view.total.usage).toMatchObject({ events: 2, costMicros: 2 * 27_000, refundedMicros: 0 });
      expect(view.total.usage.marginMicros).toBe(view.total.usage.valueMicros - view.total.usage.costMicros);
      expect(view.days.reduce((s: number, d: Json) => s + d.collected.netCents, 0)).toBe(view.total.collected.netCents);
    } finally {
      await world?.close();
      await stripe.close();
      await db.drop();
    }
  }, 120_000);
});
