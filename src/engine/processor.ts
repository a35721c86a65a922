/**
 * A payment processor, as the engine sees it: the processor talks to the vendor (who pays, for
 * what, through which page), the engine moves the money (a plan's period, a pack's bucket) in its
 * own transactions. Processors are passed to createBilling; an account names the one it pays
 * through (accounts.processor). The fake (processors/fake) completes every checkout at once; a
 * real one answers with a checkout page, and the money moves when its webhook says it came in.
 */
import type { Pack } from '../core/pack.ts';
import type { Plan } from '../core/plan.ts';
import type { Account } from './rows.ts';

/** Paid now (the fake): the processor's reference for the payment or subscription. */
export interface Completed {
  status: 'completed';
  reference: string;
}

/** The customer pays on the processor's page; its webhook then says the money came in. */
export interface Pending {
  status: 'pending';
  checkoutUrl: string;
}

export interface CheckoutRequest {
  account: Account;
  /** The processor's customer for the account, once one was made (ensureCustomer). */
  customerId?: string;
  /** The call's idempotency key, when it has one: the processor's own key for the same request. */
  idempotencyKey?: string;
  /** Where the processor's page sends the customer back. */
  successUrl?: string;
  cancelUrl?: string;
}

/** What a verified webhook says happened, in the engine's words. */
export type ProcessorEvent =
  /** A pack was paid: credit its value once per payment. */
  | { type: 'payment.succeeded'; eventId: string; accountId: string; paymentRef: string; packSlug: string; amountCents: number; at: Date }
  /** A subscription's period was paid (the first one or a renewal): the plan applies and the period's allowance opens. */
  | { type: 'subscription.paid'; eventId: string; accountId: string; subscriptionRef: string; planSlug: string; paymentRef: string; amountCents: number; periodStart: Date; periodEnd: Date; at: Date }
  /** The subscription ended at the processor: the account falls back to the default plan. */
  | { type: 'subscription.canceled'; eventId: string; accountId: string; subscriptionRef: string; at: Date }
  /** Anything else the processor sent: acknowledged and recorded, nothing applied. */
  | { type: 'ignored'; eventId: string; processorType: string; accountId?: string };

export interface Processor {
  /** The name accounts choose it by ("fake", "stripe", "paddle"). */
  readonly name: string;
  /** The processor's customer for an account, made once (the engine stores it); the fake needs none. */
  ensureCustomer?(account: Account, idempotencyKey: string): Promise<string>;
  /** Put the account on a paid plan. */
  subscribe(request: CheckoutRequest & { plan: Plan }): Promise<Completed | Pending>;
  /** Sell the account a credit pack. */
  purchase(request: CheckoutRequest & { pack: Pack }): Promise<Completed | Pending>;
  /** End the account's paid plan: at the end of the paid period, or now. */
  cancel(request: CheckoutRequest & { immediately: boolean; subscriptionRef: string }): Promise<Completed>;
  /**
   * A webhook's events, from the raw body and headers as they arrived, after checking its
   * signature; throws WebhookSignatureError (a 400, nothing stored) when it does not verify.
   */
  parseWebhook?(rawBody: string, headers: Headers): Promise<ProcessorEvent[]>;
}

/** A webhook whose signature does not verify (bad, missing or stale): refused, nothing stored. */
export class WebhookSignatureError extends Error {
  override readonly name = 'WebhookSignatureError';
}
