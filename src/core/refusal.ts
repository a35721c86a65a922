/**
 * The gate's "no" is a value, not an exception: a stable code, a sentence a person can read,
 * and what they can do about it.
 */
export const REFUSAL_CODES = ['insufficient_balance', 'daily_limit', 'monthly_limit', 'member_limit', 'model_not_allowed', 'unknown_model', 'debt', 'payment_past_due'] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

export type Remedy =
  | { kind: 'buy_pack' }
  | { kind: 'upgrade' }
  | { kind: 'wait_until'; at: Date }
  | { kind: 'contact_support' }
  /** A team member's own cap, which whoever manages the account can raise (not support, not a purchase). */
  | { kind: 'ask_account_admin' }
  /** A renewal's payment failed: pay it, or change the payment method, in the processor's billing portal (billing.portal). */
  | { kind: 'billing_portal' }
  /** Auto-recharge turned off on a declined card, or one that needs the customer: update the card (or buy a pack). */
  | { kind: 'update_payment_method' };

export interface Refusal {
  ok: false;
  code: RefusalCode;
  /** What refused and why, then what to do: the reason and the remedy in words. */
  message: string;
  /** What refused and why, alone: for an app that offers the remedy its own way (a button, a link). */
  reason: string;
  remedy: Remedy;
  /** When the refusing window resets (limits), or when new allowance arrives. */
  resetsAt?: Date;
}

/** A refusal, its message the reason followed by what to do (`then`). */
export function refuse(code: RefusalCode, reason: string, then: string, remedy: Remedy, resetsAt?: Date): Refusal {
  const refusal: Refusal = { ok: false, code, message: then ? `${reason} ${then}` : reason, reason, remedy };
  return resetsAt ? { ...refusal, resetsAt } : refusal;
}
