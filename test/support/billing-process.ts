/**
 * A Tollgate process of its own, for tests that run several on one database: it opens the
 * database named by TOLLGATE_TEST_DATABASE, then runs each call the parent sends (a path into
 * the facade and its arguments) as it arrives, so calls sent together run concurrently, as a
 * server's requests would. See processes.ts for the parent's side.
 */
import { createBilling, fakeProcessor } from '../../src/index.ts';
import { stripeProcessor } from '../../src/processors/stripe/index.ts';

const offsetMs = Number(process.env.TOLLGATE_TEST_CLOCK_OFFSET_MS ?? 'NaN');
// Stripe too, at the local fake of its API the test names (its key, webhook secret and address).
const stripe = process.env.TOLLGATE_TEST_STRIPE ? stripeProcessor(JSON.parse(process.env.TOLLGATE_TEST_STRIPE)) : undefined;
const billing = await createBilling({
  database: process.env.TOLLGATE_TEST_DATABASE!,
  processors: [fakeProcessor(), ...(stripe ? [stripe] : [])],
  ...(Number.isFinite(offsetMs) ? { clock: () => new Date(Date.now() + offsetMs) } : {}),
});

interface CallMessage {
  id: number;
  path: string[];
  args: unknown[];
}

process.on('message', (message: CallMessage | 'close') => {
  if (message === 'close') {
    void billing.close().then(() => process.exit(0));
    return;
  }
  const { id, path, args } = message;
  void (async () => {
    try {
      const owner = path.slice(0, -1).reduce<Record<string, unknown>>((o, key) => o[key] as Record<string, unknown>, billing);
      const fn = owner[path.at(-1)!] as (...a: unknown[]) => Promise<unknown>;
      process.send!({ id, ok: true, value: await fn.apply(owner, args) });
    } catch (error) {
      const e = error as { name?: string; code?: string; message?: string };
      process.send!({ id, ok: false, error: { name: e.name, code: e.code, message: e.message } });
    }
  })();
});

process.send!('ready');
