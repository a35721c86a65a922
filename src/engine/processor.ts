/**
 * A payment processor, as the engine sees it: the processor talks to the vendor (who pays, for
 * what, through which page), the engine moves the money (a plan's period, a pack's bucket) in its
 * own transactions. Processors are passed to createBilling; an account names the one it pays
 * through (accounts.processor). The fake (processors/fake) completes every checkout at once, and
 * sells nothing once a real one replaces it (`replacedBy`); a real one answers with a checkout
 * page, and the money moves when its webhook says it came in.
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
  /** The processor's own reference for the page (a Stripe Checkout Session, a Paddle transaction): a pack's payment names it back. */
  reference?: string;
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

export interface SavedChargeRequest {
  account: Account;
  customerId: string | undefined;
  pack: Pack;
  /** What to charge, in US cents: the pack's price plus the debt it covers. */
  amountCents: number;
  /** The recharge's id, as the processor writes it on the payment (its webhooks name it back). */
  rechargeId: string;
  idempotencyKey: string;
  /** The account's active subscription at the processor, if any (Paddle charges a saved card only through one). */
  subscriptionRef: string | undefined;
}

/** Why an off-session charge did not go through. */
export type DeclineCode = 'card_declined' | 'authentication_required' | 'no_payment_method';

export type SavedCharge =
  /** amountCents: what the customer was charged, when the processor adds to the amount asked (Paddle's tax). */
  | { status: 'succeeded'; paymentRef: string; amountCents?: number }
  /** Accepted, not yet paid: the processor's webhook says when it is. */
  | { status: 'pending'; paymentRef: string }
  | { status: 'declined'; code: DeclineCode; message: string };

/** A refund an admin asks of the processor: the payment (its reference, and what it paid for), how much. */
export interface PaymentRefundRequest {
  account: Account;
  paymentRef: string;
  paymentKind: 'pack' | 'subscription';
  amountCents: number;
  idempotencyKey: string;
}

/** The processor's refund: done (its money went back), or under way until its webhook says so. */
export interface PaymentRefund {
  status: 'succeeded' | 'pending';
  refundRef: string;
}

/**
 * What a verified webhook says happened, in the engine's words. `priceRef`, on a payment: the
 * processor's price paid, when what it paid for is named only by data the customer could set (a
 * Paddle checkout's custom data), and on every pack's payment (a checkout opened before the pack
 * changed and paid after buys it as it was then); it is credited only if that price is the plan's
 * there, or one a version of the pack was sold at (catalog/pack-versions.ts), else recorded as
 * failed for an admin. `priceCents`, on a pack's payment: the amount that price sells at, which
 * picks the version sold at it (its price changed, the catalog not synced yet, the pack still
 * names the old price). `checkoutRef`, on a pack's payment: the processor's reference for the
 * checkout page paid (Pending's), which picks, among the versions sold at that price, the one the
 * page was opened at (its value changed at the same price since).
 * `customerRef`, on a period paid whose account only such data names: the processor's customer
 * who paid, which must be the account's for the subscription to replace a live one of its own.
 * `pricePaid`, on a period paid: the processor's price it was billed at, whatever names the plan;
 * the period opens on the version of the plan sold at that price (grants/subscriptions.ts).
 * Two fields, as they say two things: where both are told they are the same price, but priceRef's
 * presence asks for the check. One field checked always would refuse a period a trusted name paid
 * at a price off the catalog (one set in Stripe's dashboard): money taken, nothing opened.
 */
export type ProcessorEvent =
  /** A pack was paid: credit its value once per payment. */
  | { type: 'payment.succeeded'; eventId: string; accountId: string; paymentRef: string; packSlug: string; amountCents: number; at: Date; rechargeId?: string; priceRef?: string; priceCents?: number; checkoutRef?: string }
  /** An auto-recharge's off-session charge failed (a decline, authentication required): auto-recharge turns off. */
  | { type: 'recharge.failed'; eventId: string; accountId: string; rechargeId: string; paymentRef: string; code: DeclineCode; message: string; at: Date }
  /** A subscription's period was paid (the first one or a renewal): the plan applies and the period's allowance opens. */
  | { type: 'subscription.paid'; eventId: string; accountId: string; subscriptionRef: string; planSlug: string; paymentRef: string; amountCents: number; periodStart: Date; periodEnd: Date; at: Date; priceRef?: string; customerRef?: string; pricePaid?: string }
  /** A renewal's payment failed (the period it was for ends at periodEnd): the account is past due until it is paid. */
  | { type: 'subscription.past_due'; eventId: string; accountId: string; subscriptionRef: string; periodEnd: Date; at: Date }
  /** The subscription ended at the processor: the account falls back to the default plan. */
  | { type: 'subscription.canceled'; eventId: string; accountId: string; subscriptionRef: string; at: Date }
  /**
   * A payment was refunded, in part or in full (refundRef: the processor's id of the refund): its
   * value comes back out, once per refund (grants/payment-refunds.ts). The account, when the
   * processor names it; else the payment's.
   */
  | { type: 'payment.refunded'; eventId: string; accountId?: string; paymentRef: string; refundRef: string; amountCents: number; at: Date }
  /**
   * A refund failed after it succeeded, or was canceled (the money never reached the customer):
   * what it took comes back, once per refund (grants/refund-reversals.ts).
   */
  | { type: 'payment.refund_failed'; eventId: string; accountId?: string; paymentRef: string; refundRef: string; at: Date }
  /** A payment was disputed (a chargeback): refunded by the amount disputed, and the account flagged. */
  | { type: 'payment.disputed'; eventId: string; accountId?: string; paymentRef: string; disputeRef: string; amountCents: number; at: Date }
  /** A dispute closed in the merchant's favour: recorded beside the payment; nothing moves. */
  | { type: 'payment.dispute_won'; eventId: string; accountId?: string; paymentRef: string; disputeRef: string; amountCents: number; at: Date }
  /** Anything else the processor sent: acknowledged and recorded, nothing applied. */
  | { type: 'ignored'; eventId: string; processorType: string; accountId?: string };

export interface Processor {
  /** The name accounts choose it by ("fake", "stripe", "paddle"). */
  readonly name: string;
  /** Where it takes payments, for people to read (Stripe's test or live mode, Paddle's sandbox or production); never a key. */
  readonly mode?: string;
  /**
   * The processor that takes payments instead of this one, once one does (the fake, after a switch
   * to Stripe or Paddle). This one then sells nothing: it refuses checkouts itself, a cancel
   * scheduled on it is not called off, and a subscription whose periods the clock runs on it ends
   * at its period's end (grants/clock-payments.ts) instead of renewing for nothing.
   */
  readonly replacedBy?: string;
  /** The processor's customer for an account, made once (the engine stores it); the fake needs none. */
  ensureCustomer?(account: Account, idempotencyKey: string): Promise<string>;
  /** Put the account on a paid plan. */
  subscribe(request: CheckoutRequest & { plan: Plan }): Promise<Completed | Pending>;
  /** Sell the account a credit pack. */
  purchase(request: CheckoutRequest & { pack: Pack }): Promise<Completed | Pending>;
  /** End the account's paid plan: at the end of the paid period, or now. */
  cancel(request: CheckoutRequest & { immediately: boolean; subscriptionRef: string }): Promise<Completed>;
  /**
   * Move the account's subscription to another plan (or keep its plan and call off a cancel
   * scheduled for the period's end): the proration billed at once, and the change refused
   * (BillingError payment_declined, nothing changed) unless that payment goes through. Without it, a new plan is a new checkout.
   * At `renewal`: the subscription's price becomes the plan's with nothing billed now, and the
   * customer pays it from the next invoice (a move to a plan's newer version, or its call-off).
   */
  changePlan?(request: CheckoutRequest & { plan: Plan; subscriptionRef: string; at?: 'now' | 'renewal' }): Promise<Completed>;
  /** A page of the processor's where the customer pays what is due and manages payment methods, then returns to returnUrl. */
  portal?(request: { account: Account; customerId?: string | undefined; returnUrl: string; subscriptionRef?: string | undefined }): Promise<{ url: string }>;
  /**
   * Charge the customer's saved payment method, off-session, for an auto-recharge: the pack, plus
   * the debt the account owes. The idempotency key is the recharge's (one per threshold crossing),
   * so a retry asks for the same payment. Declined, authentication required, or no saved card:
   * auto-recharge turns off. Without it, the processor cannot recharge.
   */
  chargeSaved?(request: SavedChargeRequest): Promise<SavedCharge>;
  /**
   * What became of an off-session charge chargeSaved answered pending (its paymentRef), as the
   * processor says now: asked when its webhook is late. Without it, such a charge waits for its
   * webhook for a day, then its recharge ends unanswered.
   */
  chargeStatus?(paymentRef: string): Promise<SavedCharge>;
  /**
   * A webhook's events, from the raw body and headers as they arrived, after checking its
   * signature; throws WebhookSignatureError (a 400, nothing stored) when it does not verify.
   */
  parseWebhook?(rawBody: string, headers: Headers): Promise<ProcessorEvent[]>;
  /**
   * Give back all or part of a payment (an admin's refund). The idempotency key is the call's, so
   * a retry asks for the same refund. Succeeded: the engine applies it at once, keyed by the
   * refund's id, which its webhook names again; pending: its webhook applies it when it goes through.
   */
  refund?(request: PaymentRefundRequest): Promise<PaymentRefund>;
  /**
   * Make the prices these plans and packs sell at, where missing (catalog/sync.ts): for each, the
   * price to keep, found or made, and the ones it replaces, archived. A price is never edited:
   * another amount is another price. Run again, it finds what it made and makes nothing.
   */
  syncCatalog?(items: readonly CatalogItem[]): Promise<SyncedPrice[]>;
}

/** A plan or pack as the processor sells it: monthly for a plan, once for a pack, in US cents. */
export interface CatalogItem {
  kind: 'plan' | 'pack';
  slug: string;
  name: string;
  priceCents: number;
  interval: 'month' | null;
  /** The processor's price stored for it now, if any. */
  priceId: string | null;
}

/** What the processor sells an item at now: the price kept, whether it was made just now, and those archived. */
export interface SyncedPrice {
  kind: 'plan' | 'pack';
  slug: string;
  priceId: string;
  created: boolean;
  archived: string[];
}

/** A webhook whose signature does not verify (bad, missing or stale): refused, nothing stored. */
export class WebhookSignatureError extends Error {
  override readonly name = 'WebhookSignatureError';
}
