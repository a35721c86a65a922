/**
 * What a processor's tests hand it, whatever the processor: an account, a plan and a pack priced
 * at the processor (or not yet synced there), an account with its customer there, and a webhook
 * endpoint that gives parseWebhook the raw body and headers as the server's webhook route does,
 * answering 400 when the signature does not verify; and the processor's fake of the API wired to
 * that endpoint, with prices for the plan and the pack.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pack } from '../../src/core/pack.ts';
import type { Plan } from '../../src/core/plan.ts';
import { WebhookSignatureError, type Processor, type ProcessorEvent } from '../../src/engine/processor.ts';
import type { Account } from '../../src/engine/rows.ts';

export const accountOn = (processor: string, id: string): Account => ({
  id,
  kind: 'team',
  name: `Team ${id}`,
  timeZone: 'UTC',
  planId: 1,
  planAnchorAt: null,
  planEndsAt: null,
  paidThrough: null,
  pastDue: null,
  disputedAt: null,
  processor,
  createdAt: new Date(),
});

/**
 * Makes an account with its customer at the processor, as the engine makes them before a first
 * checkout: a new account each call, its id the one given with a count after it.
 */
export function customerMaker(processor: () => Processor): (id: string) => Promise<{ account: Account; customerId: string }> {
  let n = 0;
  return async (id) => {
    const account = accountOn(processor().name, `${id}_${++n}`);
    return { account, customerId: await processor().ensureCustomer!(account, `customer:${account.id}`) };
  };
}

/** A $20 plan whose usage draws on packs, with its price at the processor when it has one. */
export const planAt = (processor: string, slug: string, price: string | undefined): Plan => ({
  id: 2,
  slug,
  name: slug,
  status: 'active',
  priceCents: 2000,
  surchargeCents: 0,
  includedMicrosOverride: null,
  limits: [],
  overage: 'credits',
  models: [],
  processorPrices: price ? { [processor]: price } : {},
  public: true,
  sort: 0,
});

/** A $10 pack, with its price at the processor when it has one. */
export const packAt = (processor: string, slug: string, price: string | undefined): Pack => ({
  id: 3,
  slug,
  name: slug,
  status: 'active',
  priceCents: 1000,
  valueMicrosOverride: null,
  expiresAfterDays: null,
  requiresPlan: false,
  processorPrices: price ? { [processor]: price } : {},
  public: true,
  sort: 0,
});

export interface WebhookEndpoint {
  url: string;
  server: Server;
  /** What parseWebhook made of each delivery, by the event id `eventIdOf` reads from its body. */
  parsed: Map<string, ProcessorEvent[]>;
  close(): Promise<void>;
}

export async function webhookEndpoint(processor: () => Processor, eventIdOf: (body: any) => string): Promise<WebhookEndpoint> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const parsed = new Map<string, ProcessorEvent[]>();
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = new Headers(Object.entries(req.headers).map(([name, value]) => [name, String(value)]));
    try {
      const events = await processor().parseWebhook!(body, headers);
      parsed.set(eventIdOf(JSON.parse(body)), events);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(events));
    } catch (error) {
      res.writeHead(error instanceof WebhookSignatureError ? 400 : 500).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/${processor().name}`, server, parsed, close };
}

/** What the processor's tests need of its fake of the API. */
export interface ProcessorFake {
  webhookUrl: string | undefined;
  addPrice(price: { unitAmount: number; interval?: 'month' }): string;
}

/**
 * Wires a processor's fake of the API for its tests: the fake's webhooks go to a new endpoint, and
 * the fake has a price for the plan planAt makes ($20 a month) and one for packAt's pack ($10).
 */
export async function wireUp(fake: ProcessorFake, processor: () => Processor, eventIdOf: (body: any) => string): Promise<{ endpoint: WebhookEndpoint; planPrice: string; packPrice: string }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const endpoint = await webhookEndpoint(processor, eventIdOf);
  fake.webhookUrl = endpoint.url;
  return { endpoint, planPrice: fake.addPrice({ unitAmount: 2000, interval: 'month' }), packPrice: fake.addPrice({ unitAmount: 1000 }) };
}
