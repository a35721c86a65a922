/**
 * The refund world (refund-world.ts) paying through Stripe's or Paddle's fake: the server on a
 * fresh PostgreSQL database, its webhooks sent by the fake, the $10 pack priced there. Runs a
 * story in it, then stops the server and the fake and drops the database.
 */
import { ENGINES } from './harness.ts';
import { PaddleFake } from './paddle-fake.ts';
import { refundWorld, type RefundWorld } from './refund-world.ts';
import { StripeFake } from './stripe-fake.ts';

interface Fake {
  webhookUrl: string | undefined;
  addPrice(price: { unitAmount: number }): string;
  close(): Promise<void>;
}

async function inRefundWorld<F extends Fake>(fake: F, name: string, env: NodeJS.ProcessEnv, story: (world: RefundWorld, fake: F) => Promise<void>): Promise<void> {
  const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
  let world: RefundWorld | undefined;
  try {
    world = await refundWorld(db, { TOLLGATE_PROCESSOR: name, ...env });
    fake.webhookUrl = `${world.base}/webhooks/${name}`;
    await world.call('PATCH', '/v1/admin/packs/credits-10', { processorPrices: { [name]: fake.addPrice({ unitAmount: 10_00 }) } });
    await story(world, fake);
  } finally {
    await world?.close();
    await fake.close();
    await db.drop();
  }
}

export async function inStripeRefundWorld(story: (world: RefundWorld, stripe: StripeFake) => Promise<void>): Promise<void> {
  const stripe = await StripeFake.start();
  await inRefundWorld(stripe, 'stripe', { STRIPE_SECRET_KEY: stripe.secretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, STRIPE_API_BASE: stripe.url }, story);
}

export async function inPaddleRefundWorld(story: (world: RefundWorld, paddle: PaddleFake) => Promise<void>): Promise<void> {
  const paddle = await PaddleFake.start();
  await inRefundWorld(paddle, 'paddle', { PADDLE_API_KEY: paddle.apiKey, PADDLE_WEBHOOK_SECRET: paddle.webhookSecret, PADDLE_API_BASE: paddle.url }, story);
}
