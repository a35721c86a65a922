/**
 * The processor's billing portal: a page of its own where the customer pays a renewal that
 * failed, changes the payment method and sees invoices, and from which it sends them back to
 * the app. The gate's payment_past_due refusal points there. A session is made for each call
 * (they expire), for the account's customer at its processor, made first if there is none.
 */
import { z } from 'zod';
import { BillingError } from '../../core/errors.ts';
import { plain } from '../../core/input.ts';
import type { Context } from '../context.ts';
import { lockGate } from '../terms.ts';
import { checkoutRequest, processorOf, returnUrlSchema } from './checkout.ts';
import { activeSubscription } from './subscriptions.ts';

export const portalInputSchema = plain(
  z.object({ returnUrl: returnUrlSchema.meta({ description: 'Where the portal sends the customer back to.', example: 'https://app.example/billing' }) }).strict(),
);
export type PortalInput = z.input<typeof portalInputSchema>;

export async function portal(ctx: Context, accountId: string, input: z.output<typeof portalInputSchema>): Promise<{ url: string }> {
  // Checked under the gate mutex; the processor is asked outside any transaction, the gate answering meanwhile.
  const { account, processor, subscriptionRef } = await ctx.sql.transaction(async (tx) => {
    const { account } = await lockGate(tx, accountId, ctx.clock());
    const processor = processorOf(ctx, account);
    if (!processor.portal) {
      throw new BillingError('processor_not_configured', `Account "${accountId}" pays through "${processor.name}", which has no billing portal`, { accountId, processor: processor.name });
    }
    const subscription = await activeSubscription(tx, accountId);
    return { account, processor, subscriptionRef: subscription?.processor === processor.name ? subscription.processorRef : undefined };
  });
  const { customerId } = await checkoutRequest(ctx.sql, processor, account, undefined);
  return processor.portal!({ account, customerId, returnUrl: input.returnUrl, subscriptionRef });
}
