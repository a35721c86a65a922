/**
 * What the refund tests over HTTP share, whatever the processor: the server with two workers on
 * PostgreSQL, its API called with the secret key, a catalog where a pack is spent at once
 * (pay-as-you-go with no allowance, a test model priced), and an account's standing as two runs
 * of one story are compared: its ledger's movements, balance, payments and dispute flag.
 */
import { expect } from 'vitest';
import type { Sql } from '../../src/db/sql.ts';
import { SECRET_KEY, ServerProcess } from './server-process.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Answer = { status: number; body: any };

export interface RefundWorld {
  base: string;
  server: ServerProcess;
  call(method: string, path: string, body?: unknown, key?: string): Promise<Answer>;
  /** The ledger entries of the account's payment refunds: each movement and the payment it names. */
  refundEntries(accountId: string): Promise<{ bucket: string | null; amount: number; payment: string }[]>;
  standing(accountId: string): Promise<unknown>;
  /** Stops the server. */
  close(): Promise<void>;
}

/** What the story below needs of a processor's fake: where its webhooks go, and an event delivered again. */
export interface WebhookSender {
  webhookUrl: string | undefined;
  deliver(eventId: string): Promise<{ status: number }>;
}

export async function refundWorld(db: { sql: Sql; url?: string }, env: NodeJS.ProcessEnv): Promise<RefundWorld> {
  const server = await ServerProcess.start({ DATABASE_URL: db.url, WEB_CONCURRENCY: '2', ...env });
  const base = `http://127.0.0.1:${server.port}`;
  const call = async (method: string, path: string, body?: unknown, key?: string): Promise<Answer> => {
    const headers = { authorization: `Bearer ${SECRET_KEY}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) };
    const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: await response.json() };
  };
  await server.ready(2);
  // Packs spendable at once: pay-as-you-go with no allowance; and a model priced by the test ($1 per million input tokens).
  await call('POST', '/v1/admin/presets/credit-packs/apply', {}, 'preset');
  await call('PATCH', '/v1/admin/plans/payg', { includedMicros: 0 });
  await call('POST', '/v1/admin/model-prices', { provider: 'test', model: 'test-model', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });

  const refundEntries = (accountId: string) =>
    db.sql.query<{ bucket: string | null; amount: number; payment: string }>(
      `SELECT b.reference AS bucket, l.amount_micros AS amount, p.processor_ref AS payment FROM ledger_entries l
       JOIN payments p ON p.id = l.payment_id LEFT JOIN buckets b ON b.id = l.bucket_id
       WHERE l.account_id = $1 AND l.kind = 'payment_refund' ORDER BY l.id`,
      [accountId],
    );

  /** What two runs of one story must agree on: the ledger's movements (by kind, amount and bucket's source), the balance, the payments, the flag. */
  async function standing(accountId: string) {
    const ledger = await db.sql.query<{ kind: string; amount: number; source: string | null }>(
      `SELECT l.kind, l.amount_micros AS amount, b.source FROM ledger_entries l LEFT JOIN buckets b ON b.id = l.bucket_id WHERE l.account_id = $1`,
      [accountId],
    );
    const { availableMicros, debtMicros } = (await call('GET', `/v1/accounts/${accountId}/balance`)).body;
    const payments = (await call('GET', `/v1/accounts/${accountId}/payments`)).body.data.map((p: Answer['body']) => ({
      amountCents: p.amountCents, status: p.status, refundedCents: p.refundedCents, disputed: p.disputedAt !== null,
      refunds: p.refunds.map((r: Answer['body']) => [r.kind, r.appliedCents, r.removedMicros, r.usedMicros]).sort(),
    }));
    return {
      ledger: ledger.map((e) => `${e.kind} ${e.amount} ${e.source ?? 'debt'}`).sort(),
      availableMicros, debtMicros,
      payments: payments.sort((a: { refundedCents: number }, b: { refundedCents: number }) => a.refundedCents - b.refundedCents),
      disputed: (await call('GET', `/v1/accounts/${accountId}`)).body.disputedAt !== null,
      reconciled: (await call('GET', `/v1/accounts/${accountId}/reconciliation`)).body.ok,
    };
  }

  const close = async () => {
    server.kill();
    await server.exited;
  };
  return { base, server, call, refundEntries, standing, close };
}

/**
 * One story told to two accounts: to "in-order" as it happens, and to "shuffled" with the
 * processor's webhooks held back, then each delivered twice, concurrently, in a fixed shuffle
 * (refunds and disputes before their payments among them). Both end the same, nothing failed and
 * nothing left parked: the standing they share.
 */
export async function toldInAnyOrder(
  world: RefundWorld, sql: Sql, sender: WebhookSender, eventIds: () => string[], story: (accountId: string) => Promise<void>,
): Promise<unknown> {
  await story('in-order');
  const from = eventIds().length;
  const url = sender.webhookUrl;
  sender.webhookUrl = undefined; // made and recorded, not sent
  await story('shuffled');
  sender.webhookUrl = url;
  const answers = await Promise.all(twiceShuffled(eventIds().slice(from)).map((eventId) => sender.deliver(eventId)));
  expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
  const inOrder = await world.standing('in-order');
  expect(await world.standing('shuffled')).toEqual(inOrder);
  expect(await sql.query(`SELECT count(*)::int AS n FROM webhook_events WHERE status = 'failed'`)).toEqual([{ n: 0 }]);
  expect(await sql.query(`SELECT count(*)::int AS n FROM payment_refunds WHERE status = 'parked'`)).toEqual([{ n: 0 }]);
  return inOrder;
}

/** A fixed shuffle of `items`, each twice: the order a test can name and repeat. */
function twiceShuffled<T>(items: readonly T[]): T[] {
  const doubled = [...items, ...items];
  let seed = 7;
  for (let i = doubled.length - 1; i > 0; i--) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = seed % (i + 1);
    [doubled[i], doubled[j]] = [doubled[j]!, doubled[i]!];
  }
  return doubled;
}
