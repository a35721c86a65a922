/**
 * A processor's webhooks on the engine's side: a checkout through a real processor is pending
 * and moves nothing until the processor says the money came in; each event is stored once and
 * applied once, whether delivered twice, concurrently or out of order; a bad signature stores
 * nothing; a failure is recorded, answered with a 500 and applied once on the retry.
 */
import type { Hono } from 'hono';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { ProcessorEvent } from '../src/index.ts';
import { loadCredentials } from '../src/hono/credentials.ts';
import { createApp } from '../src/server/app.ts';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES } from './support/harness.ts';
import { delivery, SIGNED, useSignedBilling } from './support/signed-processor.ts';

const AT = new Date('2026-03-10T12:00:00Z');
const MONTH_LATER = new Date('2026-04-10T12:00:00Z');

const packPaid = (eventId: string, accountId: string, paymentRef: string): ProcessorEvent =>
  ({ type: 'payment.succeeded', eventId, accountId, paymentRef, packSlug: 'extra-10', amountCents: 10_00, at: AT });
const planPaid = (eventId: string, accountId: string, subscriptionRef: string): ProcessorEvent =>
  ({ type: 'subscription.paid', eventId, accountId, subscriptionRef, planSlug: 'plus', paymentRef: `in_${eventId}`, amountCents: 20_00, periodStart: AT, periodEnd: MONTH_LATER, at: AT });
const planEnded = (eventId: string, accountId: string, subscriptionRef: string): ProcessorEvent =>
  ({ type: 'subscription.canceled', eventId, accountId, subscriptionRef, at: AT });

/**
 * What an account has, as its owner would compare two: its plan, the value it can spend, its debt,
 * the payments recorded and the packs they bought. (A period paid and then ended has its
 * allowance opened and lapsed at once; told in the other order, it opens none: the same value
 * either way, which is what is compared.)
 */
async function standing(sql: Sql, billing: { balance(id: string): Promise<{ plan: { slug: string }; availableMicros: number; debtMicros: number }> }, accountId: string) {
  const { plan, availableMicros, debtMicros } = await billing.balance(accountId);
  const [row] = await sql.query<{ payments: number; packs: number }>(
    `SELECT (SELECT count(*)::int FROM payments WHERE account_id = $1) AS payments,
            (SELECT coalesce(sum(amount_micros), 0)::bigint FROM buckets WHERE account_id = $1 AND source = 'pack') AS packs`,
    [accountId],
  );
  return { plan: plan.slug, availableMicros, debtMicros, ...row };
}

for (const engine of ENGINES) {
  describe(`webhooks on ${engine.name}`, () => {
    const { t, customers, receive } = useSignedBilling(engine);

    it('a checkout through a real processor is a page to pay on, and moves nothing until its webhook', async () => {
      await customers('acme');
      const pending = await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1', successUrl: 'https://app.example/billing' });
      expect(pending).toEqual({ status: 'pending', checkoutUrl: expect.stringMatching(/^https:\/\/pay\.example\/checkout\/\d+\?plan=plus$/), replayed: false });
      expect(await t.billing.subscribe('acme', 'plus', { idempotencyKey: 'sub-1', successUrl: 'https://app.example/billing' })).toEqual({ ...pending, replayed: true });
      await expect(t.billing.subscribe('acme', 'plus', { successUrl: 'javascript:alert(1)' })).rejects.toMatchObject({ code: 'invalid_input' });
      expect((await t.billing.balance('acme')).plan.slug).toBe('free');

      expect(await receive([planPaid('evt_1', 'acme', 'sub_A')])).toEqual({ events: [{ eventId: 'evt_1', type: 'subscription.paid', outcome: 'applied' }] });
      expect(await t.billing.balance('acme')).toMatchObject({ plan: { slug: 'plus' }, availableMicros: 20_000_000 });
      expect(await t.billing.reconcile('acme')).toMatchObject({ ok: true });
    });

    it('moves an account to another configured processor, and refuses one that is not', async () => {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      expect(await t.billing.upsertAccount({ id: 'acme', kind: 'team' })).toMatchObject({ processor: 'fake' });
      expect(await t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: SIGNED })).toMatchObject({ processor: SIGNED });
      expect(await t.billing.upsertAccount({ id: 'acme', kind: 'team', name: 'Acme' })).toMatchObject({ processor: SIGNED, name: 'Acme' });
      await expect(t.billing.upsertAccount({ id: 'acme', kind: 'team', processor: 'stripe' })).rejects.toMatchObject({ code: 'processor_not_configured' });
      expect(await t.billing.purchase('acme', 'extra-10').catch((e: { code: string }) => e.code)).toBe('pack_requires_plan');
      expect(await t.billing.subscribe('acme', 'plus')).toMatchObject({ status: 'pending' });
    });

    it('applies each event once: delivered twice, or eight times at once', async () => {
      await customers('acme');
      await receive([planPaid('evt_sub', 'acme', 'sub_A')]);
      expect(await receive([packPaid('evt_1', 'acme', 'pi_1')])).toMatchObject({ events: [{ outcome: 'applied' }] });
      expect(await receive([packPaid('evt_1', 'acme', 'pi_1')])).toMatchObject({ events: [{ outcome: 'duplicate' }] });
      const outcomes = (await Promise.all(Array.from({ length: 8 }, () => receive([packPaid('evt_2', 'acme', 'pi_2')])))).map((r) => r.events[0]!.outcome);
      expect(outcomes.filter((o) => o === 'applied')).toHaveLength(1);
      // Another event telling of the same payment credits nothing more: a payment is credited once.
      await receive([packPaid('evt_3', 'acme', 'pi_2')]);
      expect(await t.billing.balance('acme')).toMatchObject({ availableMicros: 40_000_000 });
      expect(await t.sql.query('SELECT count(*)::int AS n FROM webhook_events')).toEqual([{ n: 4 }]);
      // Each delivery after the first is counted on the event, for the admin: none lost to a race.
      const duplicates = Object.fromEntries((await t.billing.admin.webhookEvents()).map((e) => [e.eventId, e.duplicates]));
      expect(duplicates).toEqual({ evt_sub: 0, evt_1: 1, evt_2: 7, evt_3: 0 });
      expect(await t.billing.reconcile('acme')).toMatchObject({ ok: true });
    });

    it('ends where in-order delivery ends, whatever the order and however often each event comes', async () => {
      await customers('in-order', 'shuffled');
      const scenario = (id: string) => [
        planPaid(`${id}-1`, id, `sub_${id}`), packPaid(`${id}-2`, id, `pi_${id}_1`), packPaid(`${id}-3`, id, `pi_${id}_2`), planEnded(`${id}-4`, id, `sub_${id}`),
      ];
      for (const event of scenario('in-order')) await receive([event]);
      // Twice each, in a fixed shuffle, half of them concurrently: the end of the subscription before it was paid, too.
      const shuffled = scenario('shuffled');
      const order = [3, 1, 0, 2, 3, 0, 2, 1].map((i) => shuffled[i]!);
      await Promise.all(order.slice(0, 4).map((event) => receive([event])));
      for (const event of order.slice(4)) await receive([event]);
      const inOrder = await standing(t.sql, t.billing, 'in-order');
      expect(inOrder.plan).toBe('free');
      expect(inOrder.payments).toBe(3); // the period paid, and two packs
      expect(await standing(t.sql, t.billing, 'shuffled')).toEqual(inOrder);
      for (const id of ['in-order', 'shuffled']) expect(await t.billing.reconcile(id)).toMatchObject({ ok: true });
    });

    it("credits a pack's payment as the version of the pack sold at the price or the amount it names, when it names only one", async () => {
      await customers('acme');
      await receive([planPaid('evt_plan', 'acme', 'sub_A')]);
      await t.billing.admin.updatePack('extra-10', { processorPrices: { [SIGNED]: 'price_10' } });
      await t.billing.admin.updatePack('extra-10', { priceCents: 20_00 }); // still named price_10 until the catalog is synced
      const bought = (eventId: string, sold: { priceRef?: string; priceCents?: number }) => receive([{ ...packPaid(eventId, 'acme', `pi_${eventId}`), ...sold }]);
      const available = async () => (await t.billing.balance('acme')).availableMicros;

      // The old price alone: the version it was first sold at ($10), not the $20 one that names it until the sync.
      await bought('evt_1', { priceRef: 'price_10' });
      expect(await available()).toBe(30_000_000);
      await t.billing.admin.updatePack('extra-10', { processorPrices: { [SIGNED]: 'price_20' } }); // synced
      // The amount alone: the version sold at it; the current price, the pack as it is.
      await bought('evt_2', { priceCents: 10_00 });
      await bought('evt_3', { priceRef: 'price_20' });
      expect(await available()).toBe(60_000_000);
      // An amount no version sold at, or a price at another amount than it sold at, credits nothing.
      await expect(bought('evt_4', { priceCents: 15_00 })).rejects.toThrow(/paid \$15\.00, not the pack's price \(price_20 at \$20\.00\) nor one a version of the pack "extra-10" was sold at/);
      await expect(bought('evt_5', { priceRef: 'price_10', priceCents: 20_00 })).rejects.toThrow(/paid the price price_10 at \$20\.00, not the pack's price .* nothing was credited/);
      expect(await available()).toBe(60_000_000);
      expect(await t.billing.reconcile('acme')).toMatchObject({ ok: true });
    });

    it('refuses a forged signature with nothing stored; records what is for no account of ours, or of no interest', async () => {
      await customers('acme');
      const forged = delivery([packPaid('evt_1', 'acme', 'pi_1')], { forged: true });
      await expect(t.billing.receiveWebhook(SIGNED, forged.body, forged.headers)).rejects.toMatchObject({ name: 'WebhookSignatureError' });
      expect(await t.sql.query('SELECT 1 FROM webhook_events')).toEqual([]);
      const result = await receive([packPaid('evt_2', 'stranger', 'pi_2'), { type: 'ignored', eventId: 'evt_3', processorType: 'customer.updated' }]);
      expect(result.events.map((e) => e.outcome)).toEqual(['ignored', 'ignored']);
      expect(await t.sql.query('SELECT event_id, type, status FROM webhook_events ORDER BY id')).toEqual([
        { event_id: 'evt_2', type: 'payment.succeeded', status: 'ignored' },
        { event_id: 'evt_3', type: 'ignored:customer.updated', status: 'ignored' },
      ]);
    });

    it('records a failure with its error and applies the event once when the processor retries', async () => {
      await customers('acme');
      await receive([planPaid('evt_sub', 'acme', 'sub_A')]);
      const ofNoPack = { ...packPaid('evt_1', 'acme', 'pi_1'), packSlug: 'not-yet' } as ProcessorEvent;
      await expect(receive([ofNoPack])).rejects.toMatchObject({ code: 'pack_not_found' });
      expect(await t.sql.query(`SELECT status, error, attempts FROM webhook_events WHERE event_id = 'evt_1'`)).toEqual([
        { status: 'failed', error: expect.stringContaining('not-yet'), attempts: 1 },
      ]);
      expect((await t.billing.balance('acme')).availableMicros).toBe(20_000_000);
      await t.billing.admin.createPack({ slug: 'not-yet', name: 'Late pack', priceCents: 10_00 });
      expect(await receive([ofNoPack])).toMatchObject({ events: [{ outcome: 'applied' }] });
      expect(await receive([ofNoPack])).toMatchObject({ events: [{ outcome: 'duplicate' }] });
      expect(await t.sql.query(`SELECT status, error, attempts FROM webhook_events WHERE event_id = 'evt_1'`)).toEqual([{ status: 'applied', error: null, attempts: 2 }]);
      expect((await t.billing.balance('acme')).availableMicros).toBe(30_000_000);
    });

    it('over HTTP: 200 for events taken, 400 for a bad signature, 500 for a failure (for the retry), 404 for no such processor', async () => {
      await customers('acme');
      await receive([planPaid('evt_sub', 'acme', 'sub_A')]);
      const credentials = await loadCredentials(t.sql, { secretKey: 'tg_sk_test_0123456789abcdefghij', adminPassword: 'admin-password-for-tests' });
      const app: Hono = createApp({ billing: t.billing, credentials, logger: pino({ level: 'silent' }) });
      const post = (path: string, d: { body: string; headers: Headers }) => app.request(path, { method: 'POST', body: d.body, headers: d.headers });
      const ok = await post('/webhooks/signed', delivery([packPaid('evt_1', 'acme', 'pi_1')]));
      expect([ok.status, await ok.json()]).toEqual([200, { events: [{ eventId: 'evt_1', type: 'payment.succeeded', outcome: 'applied' }] }]);
      const forged = await post('/webhooks/signed', delivery([packPaid('evt_2', 'acme', 'pi_2')], { forged: true }));
      expect([forged.status, ((await forged.json()) as { error: { code: string } }).error.code]).toEqual([400, 'invalid_signature']);
      const failing = await post('/webhooks/signed', delivery([{ ...packPaid('evt_3', 'acme', 'pi_3'), packSlug: 'nope' } as ProcessorEvent]));
      expect([failing.status, ((await failing.json()) as { error: { code: string } }).error.code]).toEqual([500, 'webhook_not_applied']);
      const nobody = await post('/webhooks/nobody', delivery([]));
      expect(nobody.status).toBe(404);
      expect((await t.billing.balance('acme')).availableMicros).toBe(30_000_000);
    });

    it('over HTTP, logs what became of each delivery and why: refused, applied, delivered again, ignored, failed', async () => {
      await customers('acme');
      const credentials = await loadCredentials(t.sql, { secretKey: 'tg_sk_test_0123456789abcdefghij', adminPassword: 'admin-password-for-tests' });
      const lines: { level: number; msg: string; eventId?: string }[] = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
      const app: Hono = createApp({ billing: t.billing, credentials, logger });
      const post = async (path: string, d: { body: string; headers: Headers }) => {
        lines.length = 0;
        const status = (await app.request(path, { method: 'POST', body: d.body, headers: d.headers })).status;
        return { status, said: lines.filter((line) => line.msg !== 'request').map((line) => [line.level, line.msg]) };
      };
      expect(await post('/webhooks/signed', delivery([packPaid('evt_1', 'acme', 'pi_1')], { forged: true }))).toEqual({ status: 400, said: [[40, 'webhook refused (400): no valid x-signature']] });
      expect(await post('/webhooks/signed', delivery([packPaid('evt_1', 'acme', 'pi_1')]))).toEqual({ status: 200, said: [[30, 'webhook applied']] });
      expect(await post('/webhooks/signed', delivery([packPaid('evt_1', 'acme', 'pi_1')]))).toEqual({ status: 200, said: [[30, 'webhook delivered before: nothing applied again']] });
      const other = { type: 'ignored', eventId: 'evt_2', processorType: 'customer.created' } as ProcessorEvent;
      expect(await post('/webhooks/signed', delivery([other]))).toEqual({ status: 200, said: [[30, 'webhook ignored: not an event type Tollgate acts on']] });
      expect(await post('/webhooks/signed', delivery([other]))).toEqual({ status: 200, said: [[30, 'webhook delivered before: nothing applied again']] });
      expect(await post('/webhooks/signed', delivery([packPaid('evt_3', 'not-ours', 'pi_3')]))).toEqual({ status: 200, said: [[30, 'webhook ignored: nothing of ours for it to change']] });
      const failing = await post('/webhooks/signed', delivery([{ ...packPaid('evt_4', 'acme', 'pi_4'), packSlug: 'nope' } as ProcessorEvent]));
      expect(failing).toEqual({ status: 500, said: [[50, expect.stringMatching(/^webhook not applied \(500, to be retried\): .*nope/)]] });
      expect(await post('/webhooks/nobody', delivery([]))).toEqual({ status: 404, said: [[40, 'webhook refused (404): no processor "nobody" is configured here']] });
    });
  });
}
