/**
 * Checkout at Paddle: a transaction for one of the plan's or pack's price, for the account's
 * customer, whose checkout URL is the page the customer pays on. Nothing is paid when it answers:
 * transaction.completed says when the money came in (webhooks/). Each transaction carries the
 * account and what it sells in its custom data; for a plan, Paddle copies it to the subscription
 * the payment makes, and from there to every renewal. The transaction's id is the checkout's
 * reference: its transaction.completed names it back.
 *
 * Paddle takes no return pages on a transaction: the page its checkout URL opens (the processor's
 * checkoutUrl, or the default payment link set in Paddle) runs Paddle.js, which decides where the
 * customer goes once paid. Nor does it take an idempotency key: a call retried after a crash
 * makes a second transaction, whose page was never handed to anyone, so it is never paid.
 */
import { ApiError, type Paddle, type Price } from '@paddle/paddle-node-sdk';
import { BillingError } from '../../core/errors.ts';
import { formatCents } from '../../core/money.ts';
import type { Pack } from '../../core/pack.ts';
import type { Plan } from '../../core/plan.ts';
import type { CheckoutRequest, Pending } from '../../engine/processor.ts';
import { ACCOUNT_KEY, PACK_KEY, PLAN_KEY } from './custom-data.ts';

export async function subscribeCheckout(paddle: Paddle, request: CheckoutRequest & { plan: Plan }, checkoutUrl: string | undefined): Promise<Pending> {
  return checkout(paddle, request, checkoutUrl, await priceOf(paddle, 'plan', request.plan), { [ACCOUNT_KEY]: request.account.id, [PLAN_KEY]: request.plan.slug });
}

export async function purchaseCheckout(paddle: Paddle, request: CheckoutRequest & { pack: Pack }, checkoutUrl: string | undefined): Promise<Pending> {
  return checkout(paddle, request, checkoutUrl, await priceOf(paddle, 'pack', request.pack), { [ACCOUNT_KEY]: request.account.id, [PACK_KEY]: request.pack.slug });
}

async function checkout(paddle: Paddle, request: CheckoutRequest, checkoutUrl: string | undefined, priceId: string, customData: Record<string, string>): Promise<Pending> {
  if (!request.customerId) throw new Error(`Paddle checkout for account "${request.account.id}" has no customer: the engine makes one first (ensureCustomer)`);
  const transaction = await paddle.transactions.create({
    items: [{ priceId, quantity: 1 }],
    customerId: request.customerId,
    customData,
    collectionMode: 'automatic',
    ...(checkoutUrl ? { checkout: { url: checkoutUrl } } : {}),
  });
  if (!transaction.checkout?.url) throw new Error(`Paddle answered transaction ${transaction.id} with no checkout URL to send the customer to`);
  return { status: 'pending', checkoutUrl: transaction.checkout.url, reference: transaction.id };
}

/**
 * The price Paddle sells a plan or pack at, made by the catalog sync — checked at Paddle to be
 * active and of the item's amount: a plan or pack whose price changed here sells at its old
 * price at Paddle until the catalog is synced again, so it is refused until then.
 */
export async function priceOf(paddle: Paddle, kind: 'plan' | 'pack', item: Plan | Pack): Promise<string> {
  const id = item.processorPrices.paddle;
  const sync = `sync the catalog to Paddle (POST /v1/admin/processors/paddle/sync), then check out again`;
  if (!id) throw new BillingError('processor_not_configured', `The ${kind} "${item.slug}" has no Paddle price yet: ${sync}`, { processor: 'paddle', [kind]: item.slug });
  let price: Price;
  try {
    price = await paddle.prices.get(id);
  } catch (error) {
    // A price synced with other keys (the sandbox's, before production's) is not in this environment.
    if (!(error instanceof ApiError && error.code === 'not_found')) throw error;
    throw new BillingError(
      'processor_not_configured',
      `The ${kind} "${item.slug}" has Paddle price ${id}, which this Paddle account does not have (synced in the other environment?): ${sync}`,
      { processor: 'paddle', [kind]: item.slug },
    );
  }
  const cents = Number(price.unitPrice.amount);
  if (price.status === 'active' && cents === item.priceCents) return id;
  const atPaddle = price.status === 'active' ? `sells at ${formatCents(cents)} at Paddle` : `has no active Paddle price (${id} is archived)`;
  throw new BillingError(
    'processor_not_configured',
    `The ${kind} "${item.slug}" costs ${formatCents(item.priceCents)} here but ${atPaddle}: ${sync}`,
    { processor: 'paddle', [kind]: item.slug },
  );
}
