/**
 * A payment processor, as the engine sees it: the processor talks to the vendor (who pays, for
 * what), the engine moves the money (a plan's period, a pack's bucket) in its own transactions.
 * Processors are passed to createBilling; an account names the one it pays through
 * (accounts.processor). The fake (processors/fake) completes every checkout at once.
 */
import type { Pack } from '../core/pack.ts';
import type { Plan } from '../core/plan.ts';
import type { Account } from './rows.ts';

/** A checkout's outcome: paid now, with the processor's reference for the payment or subscription. */
export interface Completed {
  status: 'completed';
  reference: string;
}

export interface CheckoutRequest {
  account: Account;
  /** The call's idempotency key, when it has one: the processor's own key for the same checkout. */
  idempotencyKey?: string;
}

export interface Processor {
  /** The name accounts choose it by ("fake", "stripe", "paddle"). */
  readonly name: string;
  /** Put the account on a paid plan. */
  subscribe(request: CheckoutRequest & { plan: Plan }): Promise<Completed>;
  /** Sell the account a credit pack. */
  purchase(request: CheckoutRequest & { pack: Pack }): Promise<Completed>;
  /** End the account's paid plan: at the end of the paid period, or now. */
  cancel(request: CheckoutRequest & { immediately: boolean }): Promise<Completed>;
}
