/**
 * A Paddle webhook in the engine's words. The signature is checked by our own verifier
 * (signature.ts); then each event type the engine acts on has its own file, read through the
 * SDK's own classes for it, and every other event is acknowledged as ignored, with the account
 * its custom data names, if any. Paddle sends one event per request; its event_id is the same on
 * every delivery of it, and so names it once.
 */
import { SubscriptionCanceledEvent, SubscriptionPastDueEvent, TransactionCompletedEvent, TransactionPaymentFailedEvent, type IEventsResponse } from '@paddle/paddle-node-sdk';
import { AdjustmentCreatedEvent, AdjustmentUpdatedEvent } from '@paddle/paddle-node-sdk';
import { WebhookSignatureError, type ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, customValue } from '../custom-data.ts';
import { adjustmentApproved } from './adjustment.ts';
import { verifySignature } from './signature.ts';
import { subscriptionCanceled } from './subscription-canceled.ts';
import { subscriptionPastDue } from './subscription-past-due.ts';
import { transactionCompleted } from './transaction-completed.ts';
import { transactionPaymentFailed } from './transaction-payment-failed.ts';

export interface WebhookOptions {
  secret: string;
  toleranceSeconds: number;
}

export function parseWebhook(options: WebhookOptions, rawBody: string, headers: Headers): ProcessorEvent[] {
  verifySignature(rawBody, headers.get('paddle-signature'), options.secret, options.toleranceSeconds);
  const event = notificationOf(rawBody);
  return [normalize(event) ?? ignored(event)];
}

/** The body Paddle signed, as the event it is: signed but not an event is Paddle's mistake, refused like a forgery. */
function notificationOf(rawBody: string): IEventsResponse<unknown> {
  let event: unknown;
  try {
    event = JSON.parse(rawBody);
  } catch {
    throw new WebhookSignatureError('Paddle webhook verified but its body is not JSON');
  }
  const { event_id: eventId, event_type: eventType, data } = (event ?? {}) as Partial<IEventsResponse<unknown>>;
  if (typeof eventId !== 'string' || !eventId || typeof eventType !== 'string' || typeof data !== 'object' || data === null) {
    throw new WebhookSignatureError('Paddle webhook verified but its body is not an event (event_id, event_type, data)');
  }
  return event as IEventsResponse<unknown>;
}

function normalize(event: IEventsResponse<unknown>): ProcessorEvent | undefined {
  switch (event.event_type) {
    case 'transaction.completed':
      return transactionCompleted(new TransactionCompletedEvent(event as ConstructorParameters<typeof TransactionCompletedEvent>[0]));
    case 'transaction.payment_failed':
      return transactionPaymentFailed(new TransactionPaymentFailedEvent(event as ConstructorParameters<typeof TransactionPaymentFailedEvent>[0]));
    case 'adjustment.created':
      return adjustmentApproved(new AdjustmentCreatedEvent(event as ConstructorParameters<typeof AdjustmentCreatedEvent>[0]));
    case 'adjustment.updated':
      return adjustmentApproved(new AdjustmentUpdatedEvent(event as ConstructorParameters<typeof AdjustmentUpdatedEvent>[0]));
    case 'subscription.canceled':
      return subscriptionCanceled(new SubscriptionCanceledEvent(event as ConstructorParameters<typeof SubscriptionCanceledEvent>[0]));
    case 'subscription.past_due':
      return subscriptionPastDue(new SubscriptionPastDueEvent(event as ConstructorParameters<typeof SubscriptionPastDueEvent>[0]));
    default:
      return undefined;
  }
}

function ignored(event: IEventsResponse<unknown>): ProcessorEvent {
  const accountId = customValue((event.data as { custom_data?: unknown }).custom_data, ACCOUNT_KEY);
  return { type: 'ignored', eventId: event.event_id, processorType: event.event_type, ...(accountId ? { accountId } : {}) };
}
