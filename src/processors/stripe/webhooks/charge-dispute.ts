/**
 * charge.dispute.created: the customer's bank took the amount back (a chargeback), which the
 * engine treats as a refund that flags the account. An inquiry (a warning_ status) takes nothing
 * and is ignored. charge.dispute.closed as won: the money came back, recorded beside the payment.
 * Closed as lost: the dispute itself, applied once whether or not its created told it. An inquiry
 * the bank escalated is the same dispute (its status moves on from warning_), and no created
 * tells of it: without this, its chargeback would leave the customer both the money and the value.
 */
import type Stripe from 'stripe';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { paymentRefOf } from '../refund.ts';
import { dateOf } from './fields.ts';

export async function chargeDispute(stripe: Stripe, event: Stripe.ChargeDisputeCreatedEvent | Stripe.ChargeDisputeClosedEvent): Promise<ProcessorEvent | undefined> {
  const dispute = event.data.object;
  if (!dispute.payment_intent || dispute.status.startsWith('warning_')) return undefined;
  const told = { eventId: event.id, paymentRef: await paymentRefOf(stripe, dispute.payment_intent), amountCents: dispute.amount, at: dateOf(event.created) };
  if (event.type === 'charge.dispute.created' || dispute.status === 'lost') return { type: 'payment.disputed', ...told, disputeRef: dispute.id };
  // The win has an id of its own beside the dispute's: the dispute, told by this event too, applies once.
  return dispute.status === 'won' ? { type: 'payment.dispute_won', ...told, disputeRef: `${dispute.id}:won` } : undefined;
}
