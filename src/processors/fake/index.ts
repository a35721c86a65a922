/**
 * The fake processor: a real implementation that charges nobody. Every checkout completes at
 * once with a generated reference, and the engine then writes the same rows a real payment
 * would, so the demo and the tests run with no vendor account. Only ever chosen on the server
 * (an account's processor is set by the API's key holder, never by a browser).
 *
 * An auto-recharge's charge on the saved card succeeds at once too, one payment per idempotency
 * key, as a real processor keeps them; `decline` makes it decline instead, for an account or all.
 */
import { randomUUID } from 'node:crypto';
import { BillingError } from '../../core/errors.ts';
import type { DeclineCode, Processor, SavedChargeRequest } from '../../engine/processor.ts';

export interface FakeProcessorOptions {
  /** Decline an off-session charge (auto-recharge) with this code: tests of a card that stopped working. */
  decline?: (request: SavedChargeRequest) => DeclineCode | undefined;
  /**
   * The real processor that takes payments instead, once one does: the fake then sells nothing
   * (a checkout is refused, naming it; a saved charge is declined), so that the accounts made on
   * it before the switch do not go on getting plans and packs for nothing. They can still leave
   * it: a cancel, a refund and the portal work as before.
   */
  replacedBy?: string;
}

/** An off-session charge the fake made: one per idempotency key, however often it was asked. */
export interface FakeCharge {
  idempotencyKey: string;
  accountId: string;
  paymentRef: string;
  amountCents: number;
}

export type FakeProcessor = Processor & { readonly charges: readonly FakeCharge[] };

export function fakeProcessor(options: FakeProcessorOptions = {}): FakeProcessor {
  const charges: FakeCharge[] = [];
  /** Refused once a real processor took over: the fake sells to no one then. */
  const refuseIfReplaced = (accountId: string) => {
    const real = options.replacedBy;
    if (!real) return;
    throw new BillingError(
      'processor_not_configured',
      `Account "${accountId}" pays through the fake processor, which takes no payments now that ${real} does: move it to ${real} first ` +
        `(PUT /v1/accounts/{id} with "processor": "${real}", or its admin page)`,
      { accountId, processor: 'fake' },
    );
  };
  return {
    name: 'fake',
    ...(options.replacedBy !== undefined && { replacedBy: options.replacedBy }),
    charges,
    subscribe: async ({ account }) => {
      refuseIfReplaced(account.id);
      return { status: 'completed', reference: `fake_sub_${randomUUID()}` };
    },
    purchase: async ({ account }) => {
      refuseIfReplaced(account.id);
      return { status: 'completed', reference: `fake_pay_${randomUUID()}` };
    },
    cancel: async () => ({ status: 'completed', reference: `fake_cancel_${randomUUID()}` }),
    // Nothing is ever due at the fake and it keeps no payment methods: its portal is the page to return to.
    portal: async ({ returnUrl }) => ({ url: returnUrl }),
    // Its catalog keeps nothing: a price is named after what it sells at, so the same price again
    // is the same id, another amount another id, and the one it replaces is archived.
    syncCatalog: async (items) =>
      items.map((item) => {
        const priceId = `fake_price_${item.kind}_${item.slug}_${item.priceCents}${item.interval ? `_per_${item.interval}` : ''}`;
        const archived = item.priceId !== null && item.priceId !== priceId ? [item.priceId] : [];
        return { kind: item.kind, slug: item.slug, priceId, created: item.priceId !== priceId, archived };
      }),
    refund: async () => ({ status: 'succeeded', refundRef: `fake_re_${randomUUID()}` }),
    chargeSaved: async (request) => {
      const code = options.replacedBy ? 'no_payment_method' : options.decline?.(request);
      if (code) return { status: 'declined', code, message: code === 'card_declined' ? 'Your card was declined.' : code === 'authentication_required' ? 'This payment requires authentication.' : 'No saved card.' };
      let charge = charges.find((c) => c.idempotencyKey === request.idempotencyKey);
      if (!charge) {
        charge = { idempotencyKey: request.idempotencyKey, accountId: request.account.id, paymentRef: `fake_pay_${randomUUID()}`, amountCents: request.amountCents };
        charges.push(charge);
      }
      return { status: 'succeeded', paymentRef: charge.paymentRef };
    },
    // Its charges succeed when made: one it did not make here (another process's) it cannot say.
    chargeStatus: async (paymentRef) => {
      if (!charges.some((c) => c.paymentRef === paymentRef)) throw new Error(`The fake processor made no charge ${paymentRef} in this process`);
      return { status: 'succeeded', paymentRef };
    },
  };
}
