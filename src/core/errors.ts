/**
 * Errors a caller can act on carry a stable code from this closed list. Expected refusals of
 * the gate are not errors: they are returned as values (see refusal.ts).
 */
export const ERROR_CODES = [
  'invalid_input',
  'account_not_found',
  'plan_not_found',
  'pack_not_found',
  'hold_not_found',
  'hold_released',
  'hold_settled',
  'usage_event_not_found',
  'idempotency_conflict',
  'refund_exceeds_charge',
  'payment_not_found',
  'refund_exceeds_payment',
  'bucket_not_found',
  'model_price_not_found',
  'take_back_not_allowed',
  'take_back_exceeds_remaining',
  'unknown_model',
  'slug_taken',
  'plan_not_available',
  'pack_requires_plan',
  'pack_not_usable',
  'no_subscription',
  'processor_not_configured',
  'processor_error',
  'subscription_active',
  'change_in_progress',
  'payment_declined',
  'payment_past_due',
  'database_in_use',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class BillingError extends Error {
  override readonly name = 'BillingError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export function isBillingError(error: unknown, code?: ErrorCode): error is BillingError {
  return error instanceof BillingError && (code === undefined || error.code === code);
}
