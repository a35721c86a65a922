/**
 * Checkout at Stripe: a Checkout Session on Stripe's own page, in subscription mode for a plan and
 * in payment mode for a pack (saving the card for off-session charges, which auto-recharge makes).
 * Nothing is paid when it answers: the webhook says when the money came in (webhooks/). Each
 * session carries the account and what it sells in its metadata, and so do the subscription and
 * the payment it makes; the call's idempotency key is Stripe's, so a retry gets the same page.
 * The session's id is the checkout's reference: its payment names it back.
 */
import Stripe from 'stripe';
import { BillingError } from '../../core/errors.ts';
import { formatCents } from '../../core/money.ts';
import type { Pack } from '../../core/pack.ts';
import type { Plan } from '../../core/plan.ts';
import type { CheckoutRequest, Pending } from '../../engine/processor.ts';
import { retriedAfresh } from './client.ts';
import { ACCOUNT_KEY, PACK_KEY, PLAN_KEY, PRICE_CENTS_KEY, PRICE_KEY } from './metadata.ts';

/** Where Checkout sends the customer when a checkout names no page of its own. */
export interface ReturnPages {
  successUrl?: string | undefined;
  cancelUrl?: string | undefined;
}

export async function subscribeCheckout(stripe: Stripe, request: CheckoutRequest & { plan: Plan }, pages: ReturnPages): Promise<Pending> {
  const metadata = { [ACCOUNT_KEY]: request.account.id, [PLAN_KEY]: request.plan.slug };
  // Each invoice of the subscription keeps a copy of these: its invoice.paid names the plan.
  return checkout(stripe, request, pages, { mode: 'subscription', price: () => priceOf(stripe, 'plan', request.plan), metadata, subscription_data: { metadata } });
}

export async function purchaseCheckout(stripe: Stripe, request: CheckoutRequest & { pack: Pack }, pages: ReturnPages): Promise<Pending> {
  const metadata = { [ACCOUNT_KEY]: request.account.id, [PACK_KEY]: request.pack.slug };
  // The session names the amount its price sells at (priceOf checked it is the pack's): paid after a price change not synced yet, the amount tells the version it bought.
  return checkout(stripe, request, pages, {
    mode: 'payment', price: () => priceOf(stripe, 'pack', request.pack), metadata: { ...metadata, [PRICE_CENTS_KEY]: String(request.pack.priceCents) },
    payment_intent_data: { setup_future_usage: 'off_session', metadata },
  });
}

type ModeParams = Pick<Stripe.Checkout.SessionCreateParams, 'mode' | 'metadata' | 'subscription_data' | 'payment_intent_data'>;

/** A session for one of the price, for the account's customer, with the pages to come back to: the customer's page to pay on. */
async function checkout(stripe: Stripe, request: CheckoutRequest, pages: ReturnPages, { price, ...params }: ModeParams & { price: () => Promise<string> }): Promise<Pending> {
  if (!request.customerId) throw new Error(`Stripe checkout for account "${request.account.id}" has no customer: the engine makes one first (ensureCustomer)`);
  const successUrl = request.successUrl ?? pages.successUrl;
  if (!successUrl) {
    throw new BillingError(
      'invalid_input',
      'Stripe Checkout needs a successUrl, the page it sends the customer to once paid: pass one with the checkout, or configure the processor with a default',
      { issues: ['successUrl: required by Stripe Checkout'] },
    );
  }
  const cancelUrl = request.cancelUrl ?? pages.cancelUrl;
  const priceId = await price();
  // A page paid for nothing until the customer pays on it: after a failure Stripe keeps for the key, another is made.
  const session = await retriedAfresh(request.idempotencyKey, (options) => stripe.checkout.sessions.create(
    {
      ...params,
      // A pack's payment names the price it was paid at: paid after the pack changed, it is credited as the pack sold at it, not as the pack is now.
      ...(params.mode === 'payment' ? { metadata: { ...params.metadata, [PRICE_KEY]: priceId } } : {}),
      line_items: [{ price: priceId, quantity: 1 }],
      customer: request.customerId,
      client_reference_id: request.account.id,
      success_url: successUrl,
      // Without one, Stripe's page shows no way back.
      ...(cancelUrl ? { cancel_url: cancelUrl } : {}),
    },
    options,
  ));
  if (!session.url) throw new Error(`Stripe answered Checkout Session ${session.id} with no url to send the customer to`);
  return { status: 'pending', checkoutUrl: session.url, reference: session.id };
}

/**
 * The price Stripe sells a plan or pack at, made by the catalog sync — checked at Stripe to be
 * active and of the item's amount: a plan or pack whose price changed here sells at its old
 * price at Stripe until the catalog is synced again, so it is refused until then.
 */
export async function priceOf(stripe: Stripe, kind: 'plan' | 'pack', item: Plan | Pack): Promise<string> {
  const id = item.processorPrices.stripe;
  const sync = `sync the catalog to Stripe (POST /v1/admin/processors/stripe/sync), then check out again`;
  if (!id) throw new BillingError('processor_not_configured', `The ${kind} "${item.slug}" has no Stripe price yet: ${sync}`, { processor: 'stripe', [kind]: item.slug });
  let price: Stripe.Price;
  try {
    price = await stripe.prices.retrieve(id);
  } catch (error) {
    // A price synced with other keys (test mode's, before the live ones) is not at this account.
    if (!(error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'resource_missing')) throw error;
    throw new BillingError(
      'processor_not_configured',
      `The ${kind} "${item.slug}" has Stripe price ${id}, which this Stripe account does not have (synced with other keys, in test mode?): ${sync}`,
      { processor: 'stripe', [kind]: item.slug },
    );
  }
  if (price.active && price.unit_amount === item.priceCents) return id;
  const atStripe = price.active ? `sells at ${formatCents(price.unit_amount ?? 0)} at Stripe` : `has no active Stripe price (${id} is archived)`;
  throw new BillingError(
    'processor_not_configured',
    `The ${kind} "${item.slug}" costs ${formatCents(item.priceCents)} here but ${atStripe}: ${sync}`,
    { processor: 'stripe', [kind]: item.slug },
  );
}
