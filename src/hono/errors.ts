/**
 * One error shape for the whole API, after Stripe's: `{ error: { type, code, message, remedy?,
 * param? } }`. The domain knows nothing of HTTP: its codes map to statuses here, in one table,
 * and a refusal of the gate (a value, not an error) is a 402 carrying the refusal.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { BillingError, type ErrorCode } from '../core/errors.ts';
import type { z } from '@hono/zod-openapi';
import type { Refusal } from '../core/refusal.ts';
import type { ErrorSchema, RemedySchema } from './schemas.ts';

/** A refusal's remedy as JSON, or a refused checkout's (the plans that would spend a pack). */
type RemedyBody = z.infer<typeof RemedySchema>;

/** The API's error body, as its OpenAPI document declares it (schemas.ts ErrorSchema). */
export type ErrorBody = z.infer<typeof ErrorSchema>;

const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  invalid_input: 400,
  unknown_model: 400,
  refund_exceeds_charge: 400,
  refund_exceeds_payment: 400,
  take_back_exceeds_remaining: 400,
  take_back_not_allowed: 409,
  payment_not_found: 404,
  bucket_not_found: 404,
  model_price_not_found: 404,
  account_not_found: 404,
  plan_not_found: 404,
  pack_not_found: 404,
  hold_not_found: 404,
  usage_event_not_found: 404,
  hold_released: 409,
  hold_settled: 409,
  idempotency_conflict: 409,
  slug_taken: 409,
  plan_not_available: 409,
  pack_requires_plan: 409,
  pack_not_usable: 409,
  no_subscription: 409,
  processor_not_configured: 409,
  // The processor failed or refused what Tollgate asked of it: a gateway's error, worth a retry.
  processor_error: 502,
  subscription_active: 409,
  // Another cancel or plan change of the subscription is at the processor: worth asking again once it is answered.
  change_in_progress: 409,
  payment_declined: 402,
  payment_past_due: 409,
  database_in_use: 503,
};

/** An error raised while serving a request, answered in the API's shape. */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly body: ErrorBody['error'],
  ) {
    super(body.message);
  }
}

export function billingErrorBody(error: BillingError): { status: ContentfulStatusCode; body: ErrorBody } {
  const issues = Array.isArray(error.details?.issues) ? (error.details.issues as string[]) : undefined;
  const param = issues?.[0]?.split(':')[0];
  const remedy = error.details?.remedy as RemedyBody | undefined;
  const status = STATUS[error.code] ?? 400;
  return {
    status,
    body: {
      error: {
        // A 5xx is no fault of the request (a processor or the database failed): Stripe's api_error, worth a retry.
        type: error.code === 'idempotency_conflict' ? 'idempotency_error' : status >= 500 ? 'api_error' : 'invalid_request_error',
        code: error.code,
        message: error.message,
        ...(remedy === undefined ? {} : { remedy }),
        ...(param ? { param } : {}),
        ...(issues ? { issues } : {}),
      },
    },
  };
}

/** A refusal of the gate, as the 402 that carries it. */
export function refusalBody(refusal: Refusal): ErrorBody {
  const remedy: RemedyBody = refusal.remedy.kind === 'wait_until' ? { kind: 'wait_until', at: refusal.remedy.at.toISOString() } : refusal.remedy;
  return {
    error: {
      type: 'refusal', code: refusal.code, message: refusal.message, reason: refusal.reason, remedy,
      ...(refusal.resetsAt ? { resetsAt: refusal.resetsAt.toISOString() } : {}),
    },
  };
}

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * An error body whose strings PostgreSQL can store (the Idempotency-Key keeps it as jsonb): a
 * message may quote the input, and a NUL or an unpaired surrogate there becomes U+FFFD.
 */
export function storable(body: ErrorBody['error']): ErrorBody['error'] {
  const clean = (text: string) => text.replace(UNSTORABLE, '\uFFFD');
  return {
    ...body, message: clean(body.message),
    ...(body.param === undefined ? {} : { param: clean(body.param) }),
    ...(body.issues === undefined ? {} : { issues: body.issues.map(clean) }),
  };
}

/** An error that is no bug, in the one shape: the library's, the API's own, and Hono's on a body; else undefined. */
export function answerKnownError(error: unknown, c: Context): Response | undefined {
  if (error instanceof BillingError) {
    const { status, body } = billingErrorBody(error);
    return c.json({ error: storable(body.error) }, status);
  }
  if (error instanceof HttpError) return c.json({ error: storable(error.body) }, error.status);
  if (error instanceof HTTPException) {
    // Hono's own: a body that is not JSON, or not sent as JSON.
    const invalidJson = /JSON/i.test(error.message);
    const notJson = error.status === 415;
    return c.json(
      {
        error: {
          type: 'invalid_request_error',
          code: invalidJson ? 'invalid_json' : notJson ? 'unsupported_media_type' : 'invalid_input',
          message: invalidJson ? 'The body is not valid JSON' : notJson ? 'Send the body as JSON, with the header "Content-Type: application/json"' : error.message,
        },
      },
      error.status === 500 ? 400 : error.status,
    );
  }
  return undefined;
}

/** The app's onError: every error leaves in the one shape; only a bug is a 500, and says nothing of its insides. */
export function answerError(error: unknown, c: Context, log: (error: unknown) => void) {
  const known = answerKnownError(error, c);
  if (known) return known;
  log(error);
  return c.json({ error: { type: 'api_error', code: 'internal_error', message: 'Something went wrong on our side; the request may be retried with the same Idempotency-Key.' } }, 500);
}
