/**
 * The engine's payment events as a processor tells them, for tests of what the engine does with
 * them: a pack paid, a period paid, a payment refunded or disputed, a refund that failed.
 */
import type { ProcessorEvent } from '../../src/index.ts';

export const AT = new Date('2026-03-10T12:00:00Z');
export const MONTH_LATER = new Date('2026-04-10T12:00:00Z');

export const packPaid = (eventId: string, accountId: string, paymentRef: string, packSlug = 'credits-10', amountCents = 10_00): ProcessorEvent =>
  ({ type: 'payment.succeeded', eventId, accountId, paymentRef, packSlug, amountCents, at: AT });
export const planPaid = (eventId: string, accountId: string, paymentRef: string): ProcessorEvent =>
  ({ type: 'subscription.paid', eventId, accountId, subscriptionRef: `sub_${accountId}`, planSlug: 'plus', paymentRef, amountCents: 20_00, periodStart: AT, periodEnd: MONTH_LATER, at: AT });
export const refunded = (eventId: string, paymentRef: string, refundRef: string, amountCents: number): ProcessorEvent =>
  ({ type: 'payment.refunded', eventId, paymentRef, refundRef, amountCents, at: AT });
export const disputed = (eventId: string, paymentRef: string, disputeRef: string, amountCents: number): ProcessorEvent =>
  ({ type: 'payment.disputed', eventId, paymentRef, disputeRef, amountCents, at: AT });
export const refundFailed = (eventId: string, paymentRef: string, refundRef: string): ProcessorEvent =>
  ({ type: 'payment.refund_failed', eventId, paymentRef, refundRef, at: AT });
