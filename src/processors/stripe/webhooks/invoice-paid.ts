/**
 * invoice.paid for a subscription: a period is paid (the first one, or a renewal). The period is
 * its subscription line's, not the invoice's own period_start/period_end (which, on a renewal, is
 * the period just ended). The account and plan are the subscription's metadata, which the invoice
 * keeps a copy of (parent.subscription_details.metadata) and its subscription lines reflect; but
 * a price the catalog sync made names its plan by its product (catalog.ts), and that is the plan
 * paid for, whatever the metadata still says after a plan changed in Stripe's dashboard or portal.
 * The line's price is the price paid, which decides the version of the plan the period opens on.
 */
import type Stripe from 'stripe';
import type { ProcessorEvent } from '../../../engine/processor.ts';
import { ACCOUNT_KEY, metadataValue, PLAN_KEY } from '../metadata.ts';
import { slugOfProduct } from '../catalog.ts';
import { dateOf, idOf } from './fields.ts';

export function invoicePaid(event: Stripe.InvoicePaidEvent): ProcessorEvent | undefined {
  const invoice = event.data.object;
  const subscription = invoice.parent?.subscription_details;
  if (!subscription) return undefined;
  const line = periodLine(invoice);
  const read = (key: string) => metadataValue(subscription.metadata, key) ?? metadataValue(line?.metadata, key);
  const accountId = read(ACCOUNT_KEY);
  // A proration's lines are the old plan's credit and the new one's charge: there, the metadata (which a change through Tollgate sets) says.
  const price = line?.parent?.subscription_item_details?.proration ? undefined : line?.pricing?.price_details;
  const product = price?.product;
  const planSlug = (product ? slugOfProduct('plan', product) : undefined) ?? read(PLAN_KEY);
  if (!line || !accountId || !planSlug) return undefined;
  return {
    type: 'subscription.paid',
    eventId: event.id,
    accountId,
    subscriptionRef: idOf(subscription.subscription),
    planSlug,
    paymentRef: invoice.id,
    amountCents: invoice.amount_paid,
    periodStart: dateOf(line.period.start),
    periodEnd: dateOf(line.period.end),
    at: dateOf(event.created),
    ...(price ? { pricePaid: idOf(price.price) } : {}),
  };
}

/** The line that bills the subscription's period: not a proration, when there is one; else the one that ends last. */
export function periodLine(invoice: Stripe.Invoice): Stripe.InvoiceLineItem | undefined {
  const lines = invoice.lines.data.filter((line) => line.parent?.subscription_item_details);
  return lines.find((line) => !line.parent!.subscription_item_details!.proration) ?? lines.sort((a, b) => b.period.end - a.period.end)[0];
}
