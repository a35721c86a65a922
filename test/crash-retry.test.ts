/**
 * Money applied once across crashes: the server with two workers on PostgreSQL, refunds,
 * purchases and credits sent under keys while workers are killed with SIGKILL, then every key
 * retried until it is answered. Each key's effect is in the ledger once, whatever moment its
 * worker died at — before the commit, after it, or after it and before the answer.
 * Skipped, with a note, without TEST_DATABASE_URL.
 */
import { describe, expect, it } from 'vitest';
import { ENGINES, POSTGRES_URL } from './support/harness.ts';
import { SECRET_KEY as SECRET, ServerProcess } from './support/server-process.ts';

describe.skipIf(!POSTGRES_URL)(`money-moving requests across worker crashes${POSTGRES_URL ? '' : ' (SKIPPED: TEST_DATABASE_URL is not set)'}`, () => {
  it('every key moves money once when workers are killed mid-request and the client retries', async () => {
    const db = await ENGINES.find((e) => e.name === 'postgres')!.open();
    const server = await ServerProcess.start({ DATABASE_URL: db.url, WEB_CONCURRENCY: '2' });
    const base = `http://127.0.0.1:${server.port}`;
    const headers = (key?: string) => ({ authorization: `Bearer ${SECRET}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) });
    const post = (path: string, body: unknown, key?: string) => fetch(`${base}${path}`, { method: 'POST', headers: headers(key), body: JSON.stringify(body) });
    try {
      await server.ready(2);
      // One account on a paid plan with a charge to refund from, bit by bit.
      await post('/v1/admin/model-prices', { provider: 'test', model: 'test-model', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
      await fetch(`${base}/v1/accounts/acme`, { method: 'PUT', headers: headers(), body: JSON.stringify({ kind: 'team' }) });
      expect((await post('/v1/accounts/acme/subscription', { plan: 'plus' }, 'setup-plan')).status).toBe(200);
      const charge = await (await post('/v1/accounts/acme/usage-records', { model: 'test-model', provider: 'test', usage: { inputTokens: 1_000_000, outputTokens: 0 } }, 'setup-charge')).json() as { usageEventId: number };

      const requests: { key: string; path: string; body: unknown }[] = Array.from({ length: 80 }, (_, i) => [
        { key: `refund-${i}`, path: '/v1/refunds', body: { usageEventId: charge.usageEventId, amountMicros: 1 } },
        { key: `buy-${i}`, path: '/v1/accounts/acme/purchases', body: { pack: 'extra-10' } },
        { key: `credit-${i}`, path: '/v1/accounts/acme/credits', body: { source: 'bonus', amountMicros: 1, reference: `gift-${i}` } },
      ]).flat();
      const answered = new Map<string, { status: number; body: unknown }>();
      const send = async (r: (typeof requests)[number]) => {
        try {
          const reply = await post(r.path, r.body, r.key);
          if (reply.status < 500) answered.set(r.key, { status: reply.status, body: await reply.json() });
        } catch {
          // The connection died with its worker: the client will retry.
        }
      };

      // Send everything, in waves, while the workers are killed one after the other.
      let killed = 0;
      const killing = (async () => {
        for (let i = 0; i < 4; i++) {
          await new Promise((r) => setTimeout(r, 150));
          const [worker] = server.workers();
          if (worker) {
            process.kill(worker, 'SIGKILL');
            killed++;
          }
        }
      })();
      for (let i = 0; i < requests.length; i += 20) await Promise.all(requests.slice(i, i + 20).map(send));
      await killing;
      expect(killed).toBeGreaterThan(0);

      // Retry every key not answered yet, as a client would, until each is.
      for (let round = 0; round < 50 && answered.size < requests.length; round++) {
        await server.ready(2);
        await Promise.all(requests.filter((r) => !answered.has(r.key)).map(send));
      }
      expect(answered.size).toBe(requests.length);
      for (const [key, reply] of answered) expect(reply.status, `${key}: ${JSON.stringify(reply.body)}`).toBeLessThan(300);

      // Each key's effect, once: 80 refunds of 1 µ$, 80 pack payments, 80 bonus buckets.
      const [counts] = await db.sql.query<{ refunded: number; payments: number; credits: number }>(
        `SELECT (SELECT refunded_micros::int FROM usage_events WHERE id = $1) AS refunded,
                (SELECT count(*)::int FROM payments WHERE kind = 'pack') AS payments,
                (SELECT count(*)::int FROM buckets WHERE source = 'bonus') AS credits`,
        [charge.usageEventId],
      );
      expect(counts).toEqual({ refunded: 80, payments: 80, credits: 80 });
      const reconciliation = await (await fetch(`${base}/v1/accounts/acme/reconciliation`, { headers: headers() })).json() as { ok: boolean };
      expect(reconciliation.ok).toBe(true);
    } finally {
      server.kill();
      await server.exited;
      await db.drop();
    }
  }, 120_000);
});
