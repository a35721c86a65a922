/**
 * A processor for the engine's side of payments: its checkouts stay pending, and its webhooks
 * are the engine's own events as JSON, signed with an HMAC of the body. What a real processor
 * adds (its SDK, its vendor's shapes) is tested with it; what the engine does with the events
 * is tested here, the same for every processor.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BillingError, fakeProcessor, WebhookSignatureError, type Processor, type ProcessorEvent } from '../../src/index.ts';
import { useBilling, type Engine } from './harness.ts';

export const SIGNED = 'signed';
const SECRET = 'whsec_test_0123456789';

const sign = (body: string) => createHmac('sha256', SECRET).update(body).digest('hex');

/** A delivery of `events`: its body and the headers that sign it. */
export function delivery(events: readonly ProcessorEvent[], { forged = false } = {}): { body: string; headers: Headers } {
  const body = JSON.stringify(events);
  return { body, headers: new Headers({ 'x-signature': forged ? sign(`${body} `) : sign(body) }) };
}

/** What the signed processor's plan changes do: go through, or be declined (nothing changes). */
export const planChanges = { decline: false, made: [] as { subscriptionRef: string; plan: string }[] };

export function signedProcessor(): Processor {
  let checkouts = 0;
  let refunds = 0;
  return {
    name: SIGNED,
    subscribe: async ({ plan }) => ({ status: 'pending', checkoutUrl: `https://pay.example/checkout/${++checkouts}?plan=${plan.slug}` }),
    purchase: async ({ pack }) => ({ status: 'pending', checkoutUrl: `https://pay.example/checkout/${++checkouts}?pack=${pack.slug}` }),
    cancel: async ({ subscriptionRef }) => ({ status: 'completed', reference: subscriptionRef }),
    async changePlan({ subscriptionRef, plan }) {
      if (planChanges.decline) throw new BillingError('payment_declined', 'the card was declined');
      planChanges.made.push({ subscriptionRef, plan: plan.slug });
      return { status: 'completed', reference: subscriptionRef };
    },
    portal: async ({ account, returnUrl }) => ({ url: `https://pay.example/portal/${account.id}?return=${encodeURIComponent(returnUrl)}` }),
    refund: async () => ({ status: 'succeeded', refundRef: `re_signed_${++refunds}` }),
    async parseWebhook(rawBody, headers) {
      const given = Buffer.from(headers.get('x-signature') ?? '');
      const expected = Buffer.from(sign(rawBody));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new WebhookSignatureError('no valid x-signature');
      return JSON.parse(rawBody, (key, value) => (['at', 'periodStart', 'periodEnd'].includes(key) ? new Date(value as string) : value)) as ProcessorEvent[];
    },
  };
}

/**
 * The engine on a harness database with the signed processor beside the fake: `customers` puts
 * accounts on the subscription preset paying through it, `receive` hands it events as it signs them.
 */
export function useSignedBilling(engine: Engine) {
  const t = useBilling(engine, { processors: [fakeProcessor(), signedProcessor()] });
  return {
    t,
    async customers(...ids: string[]) {
      await t.billing.admin.applyPreset('subscription-plus-packs');
      for (const id of ids) {
        await t.billing.upsertAccount({ id, kind: 'team' });
        await t.sql.query('UPDATE accounts SET processor = $2 WHERE id = $1', [id, SIGNED]);
      }
    },
    receive(events: ProcessorEvent[]) {
      const { body, headers } = delivery(events);
      return t.billing.receiveWebhook(SIGNED, body, headers);
    },
  };
}
