/**
 * `POST /webhooks/{processor}`: a processor's events, verified on the raw body by the processor
 * and applied once by the engine (engine/grants/webhooks.ts). No API key: the signature is the
 * credential. A bad or stale signature is a 400 with nothing stored; an event applied, a
 * duplicate, or one for nothing of ours is a 200; a failure to apply is recorded and answered
 * with a 500, so the processor retries. Each is logged with why, when a logger is given: a refused
 * signature is otherwise seen only in the processor's dashboard, since nothing is stored.
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import type { Billing } from '../engine/billing.ts';
import { WebhookSignatureError } from '../engine/processor.ts';
import { isBillingError } from '../core/errors.ts';
import { databaseUnreachable } from '../db/unreachable.ts';
import { HttpError } from './errors.ts';

/** Processors' events are small; a larger body is not one of theirs. */
const MAX_WEBHOOK_BYTES = 1024 * 1024;

/** What each outcome means, for the log. */
const OUTCOME: Record<string, string> = {
  applied: 'applied',
  duplicate: 'delivered before: nothing applied again',
  ignored: 'ignored: nothing of ours for it to change',
};

export function createWebhooks(billing: Pick<Billing, 'receiveWebhook'>, logger?: Pick<Logger, 'info' | 'warn' | 'error'>): Hono {
  const webhooks = new Hono();
  webhooks.post(
    '/:processor',
    bodyLimit({
      maxSize: MAX_WEBHOOK_BYTES,
      onError: () => {
        throw new HttpError(413, { type: 'invalid_request_error', code: 'payload_too_large', message: 'A webhook body is at most 1 MiB' });
      },
    }),
    async (c) => {
      const rawBody = await c.req.text();
      const processor = c.req.param('processor');
      try {
        const result = await billing.receiveWebhook(processor, rawBody, c.req.raw.headers);
        for (const { eventId, type, outcome } of result.events) {
          const why = outcome === 'ignored' && type === 'ignored' ? 'ignored: not an event type Tollgate acts on' : OUTCOME[outcome];
          logger?.info({ processor, eventId, type, outcome }, `webhook ${why}`);
        }
        return c.json(result, 200);
      } catch (error) {
        if (error instanceof WebhookSignatureError) {
          logger?.warn({ processor }, `webhook refused (400): ${error.message}`);
          throw new HttpError(400, { type: 'invalid_request_error', code: 'invalid_signature', message: `The webhook's signature does not verify: ${error.message}` });
        }
        if (isBillingError(error, 'processor_not_configured')) {
          logger?.warn({ processor }, `webhook refused (404): no processor "${processor}" is configured here`);
          throw new HttpError(404, { type: 'invalid_request_error', code: 'not_found', message: `No processor "${processor}" takes webhooks here` });
        }
        if (databaseUnreachable(error)) {
          // Nothing was recorded: the processor's retry, once the database answers, applies it.
          logger?.warn({ processor, error: (error as Error).message }, 'webhook not applied (503, to be retried): the database does not answer');
          throw new HttpError(503, { type: 'api_error', code: 'database_unreachable', message: 'The database does not answer; the event will be applied on a retry' });
        }
        // An event that failed in its effect is recorded as failed, with why (the admin sees it);
        // one that failed before (the processor's API did not answer a read) is not. Either way a
        // 5xx makes the processor retry.
        const message = error instanceof Error ? error.message : 'the event could not be applied';
        logger?.error({ processor, err: error }, `webhook not applied (500, to be retried): ${message}`);
        throw new HttpError(500, { type: 'api_error', code: 'webhook_not_applied', message: `The event was not applied, and will be on the processor's retry: ${message}` });
      }
    },
  );
  return webhooks;
}
