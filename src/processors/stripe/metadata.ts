/**
 * What Tollgate writes on every object it makes at Stripe, and reads back from its webhooks: the
 * account an object belongs to, and the plan or pack it sells. A webhook names no Tollgate row
 * by itself; these keys are how its events find their account.
 */
import type Stripe from 'stripe';

export const ACCOUNT_KEY = 'tollgate_account';
export const PLAN_KEY = 'tollgate_plan';
export const PACK_KEY = 'tollgate_pack';
/** On a pack's Checkout Session: the price it sells at, which its payment bought the pack at. */
export const PRICE_KEY = 'tollgate_price';
/** On a pack's Checkout Session: the amount, in cents, that price sells at (the pack's when the session opened). */
export const PRICE_CENTS_KEY = 'tollgate_price_cents';
/** On an auto-recharge's PaymentIntent: the recharge it pays. */
export const RECHARGE_KEY = 'tollgate_recharge';

/** A metadata value, when it is there and not empty. */
export function metadataValue(metadata: Stripe.Metadata | null | undefined, key: string): string | undefined {
  const value = metadata?.[key];
  return value ? value : undefined;
}
