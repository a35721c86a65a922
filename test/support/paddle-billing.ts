/**
 * The engine on a harness database with the Paddle processor, its real SDK against a fresh local
 * fake of Paddle's API for each test, and Paddle's events handed to the engine as Paddle signs
 * them (no server in between).
 */
import { afterEach, beforeEach } from 'vitest';
import { fakeProcessor } from '../../src/index.ts';
import type { Processor } from '../../src/engine/processor.ts';
import { paddleProcessor } from '../../src/processors/paddle/index.ts';
import { useBilling, type Engine } from './harness.ts';
import { PaddleFake } from './paddle-fake.ts';

export function usePaddleBilling(engine: Engine) {
  const processors: Processor[] = [fakeProcessor()];
  const world = { fake: undefined as unknown as PaddleFake };
  beforeEach(async () => {
    world.fake = await PaddleFake.start();
    processors[1] = paddleProcessor({ apiKey: world.fake.apiKey, webhookSecret: world.fake.webhookSecret, apiBase: world.fake.url });
  });
  afterEach(async () => {
    await world.fake.close();
  });
  const t = useBilling(engine, { processors });
  return {
    t,
    fake: () => world.fake,
    /** Every event Paddle made since `from` (an index into its events), delivered in order. */
    async deliver(from: number) {
      for (const event of world.fake.events.slice(from)) {
        const body = JSON.stringify(event);
        await t.billing.receiveWebhook('paddle', body, new Headers({ 'paddle-signature': world.fake.sign(body) }));
      }
    },
  };
}
