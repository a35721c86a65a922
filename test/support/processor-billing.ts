/**
 * The engine on a harness database with a real processor, its real SDK against a fresh local fake
 * of the vendor's API for each test, and the vendor's events handed to the engine as the vendor
 * signs them (no server in between).
 */
import { afterEach, beforeEach } from 'vitest';
import { createBilling, fakeProcessor, type Billing } from '../../src/index.ts';
import type { Processor } from '../../src/engine/processor.ts';
import { paddleProcessor } from '../../src/processors/paddle/index.ts';
import { stripeProcessor } from '../../src/processors/stripe/index.ts';
import { useBilling, type Engine } from './harness.ts';
import { PaddleFake } from './paddle-fake.ts';
import { StripeFake } from './stripe-fake.ts';

interface VendorFake {
  readonly events: unknown[];
  sign(body: string): string;
  close(): Promise<void>;
}

interface Vendor<F extends VendorFake> {
  name: 'stripe' | 'paddle';
  signatureHeader: string;
  start(): Promise<F>;
  processor(fake: F): Processor;
}

function useVendorBilling<F extends VendorFake>(engine: Engine, vendor: Vendor<F>) {
  const processors: Processor[] = [fakeProcessor()];
  const world = { fake: undefined as unknown as F };
  beforeEach(async () => {
    world.fake = await vendor.start();
    processors[1] = vendor.processor(world.fake);
  });
  afterEach(async () => {
    await world.fake.close();
  });
  const t = useBilling(engine, { processors });
  return {
    t,
    fake: () => world.fake,
    /** Every event the vendor made since `from` (an index into its events), delivered in order (to `billing`: another process's facade). */
    async deliver(from: number, billing: Pick<Billing, 'receiveWebhook'> = t.billing) {
      for (const event of world.fake.events.slice(from)) {
        const body = JSON.stringify(event);
        await billing.receiveWebhook(vendor.name, body, new Headers({ [vendor.signatureHeader]: world.fake.sign(body) }));
      }
    },
    /** A second facade on the same database and processors, as another process has: the caller closes it. */
    twin: () => createBilling({ database: t.sql, clock: t.clock.read, processors }),
  };
}

export const usePaddleBilling = (engine: Engine) =>
  useVendorBilling(engine, {
    name: 'paddle',
    signatureHeader: 'paddle-signature',
    start: () => PaddleFake.start(),
    processor: (fake) => paddleProcessor({ apiKey: fake.apiKey, webhookSecret: fake.webhookSecret, apiBase: fake.url }),
  });

export const useStripeBilling = (engine: Engine) =>
  useVendorBilling(engine, {
    name: 'stripe',
    signatureHeader: 'stripe-signature',
    start: () => StripeFake.start(),
    processor: (fake) => stripeProcessor({ secretKey: fake.secretKey, webhookSecret: fake.webhookSecret, apiBase: fake.url, successUrl: 'https://app.example/done' }),
  });
