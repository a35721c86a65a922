/** customer.subscription.deleted: the subscription ended at Stripe (canceled now, or at its period's end). */
import type Stripe from 'stripe';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, metadataValue } from '../metadata.ts';
import { dateOf } from './fields.ts';

export function customerSubscriptionDeleted(event: Stripe.CustomerSubscriptionDeletedEvent): ProcessorEvent | undefined {
  const subscription = event.data.object;
  const accountId = metadataValue(subscription.metadata, ACCOUNT_KEY);
  if (!accountId) return undefined;
  return { type: 'subscription.canceled', eventId: event.id, accountId, subscriptionRef: subscription.id, at: dateOf(subscription.ended_at ?? event.created) };
}
