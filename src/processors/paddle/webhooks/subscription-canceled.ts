/** subscription.canceled: the subscription ended at Paddle (canceled now, or at the end of its period). */
import type { SubscriptionCanceledEvent } from '@paddle/paddle-node-sdk';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, customValue } from '../custom-data.ts';
import { dateOf } from './fields.ts';

export function subscriptionCanceled(event: SubscriptionCanceledEvent): ProcessorEvent | undefined {
  const subscription = event.data;
  const accountId = customValue(subscription.customData, ACCOUNT_KEY);
  if (!accountId) return undefined;
  const at = dateOf(subscription.canceledAt) ?? dateOf(event.occurredAt) ?? new Date();
  return { type: 'subscription.canceled', eventId: event.eventId, accountId, subscriptionRef: subscription.id, at };
}
