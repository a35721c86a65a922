/**
 * The refund world (refund-world.ts) paying through Stripe's fake: the server on a fresh
 * PostgreSQL database, its webhooks sent by the fake, the $10 pack priced at Stripe. Runs a
 * story in it, then stops the server and the fake and drops the database.
 */
import { ENGINES } from './harness.ts';
import { refundWorld, type RefundWorld } from './refund-world.ts';
import { StripeFake } from './stripe-fake.ts';

export async function inStripeRefundWorld(story: (world: RefundWorld, stripe: StripeFake) => Promise<void>): Promise<void> {
  const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
  const stripe = await StripeFake.start();
  let world: RefundWorld | undefined;
  try {
    world = await refundWorld(db, { TOLLGATE_PROCESSOR: 'stripe', STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, STRIPE_API_BASE: stripe.url });
    stripe.webhookUrl = `${world.base}/webhooks/stripe`;
    await world.call('PATCH', '/v1/admin/packs/credits-10', { processorPrices: { stripe: stripe.addPrice({ unitAmount: 10_00 }) } });
    await story(world, stripe);
  } finally {
    await world?.close();
    await stripe.close();
    await db.drop();
  }
}
