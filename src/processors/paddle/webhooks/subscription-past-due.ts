/**
 * subscription.past_due: a renewal's payment failed (Paddle retries it meanwhile). Paddle has
 * moved the subscription to the period the payment was for: its current billing period.
 */
import type { SubscriptionPastDueEvent } from '@paddle/paddle-node-sdk';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, customValue } from '../custom-data.ts';
import { dateOf } from './fields.ts';

export function subscriptionPastDue(event: SubscriptionPastDueEvent): ProcessorEvent | undefined {
  const subscription = event.data;
  const accountId = customValue(subscription.customData, ACCOUNT_KEY);
  const periodEnd = dateOf(subscription.currentBillingPeriod?.endsAt);
  if (!accountId || !periodEnd) return undefined;
  return { type: 'subscription.past_due', eventId: event.eventId, accountId, subscriptionRef: subscription.id, periodEnd, at: dateOf(event.occurredAt) ?? new Date() };
}
