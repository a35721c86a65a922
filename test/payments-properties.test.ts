/**
 * Properties of payments, on both engines. fast-check draws stories of processor events and the
 * engine's own work on a few accounts (a team whose members call among them): packs paid (told
 * once, twice, by two events, at once), refunds and disputes of them (full or partial, told
 * before their payment or after, again and again, or asked of the processor by an admin),
 * usage settled or recorded, auto-recharge set and run (by one runner or two at once) against a
 * processor whose off-session charges succeed (perhaps disputed before the answer comes back),
 * wait for their webhook, or are declined; events told while usage is charged or recharges run,
 * by two processes on the database. Next to them, a small model of what the processor did, from
 * which the test alone computes what the ledger must say. After every step, per account and per
 * payment:
 *   - the value credited is the value of the distinct payments that succeeded (a pack's, or a
 *     recharge's pack and the debt it covered), each one bucket granted once;
 *   - what refunds took (off the payment's bucket, made owed, or written off) is, per payment,
 *     floor(value × min(Σ refunded and disputed cents, paid) / paid): each refund applied once, a
 *     refund of a payment not yet told parked until it is;
 *   - reconcile() finds no problem, and an account is flagged disputed exactly when it should be.
 * And a story of payments, refunds, disputes and usage told in order ends with the same ledger
 * sums per account as the same story shuffled, told twice and partly at once (used value refunded
 * as debt, so that what a refund takes does not depend on when the usage came).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBilling, type Billing, type Processor, type ProcessorEvent, type SavedChargeRequest } from '../src/index.ts';
import type { Sql } from '../src/db/sql.ts';
import { ENGINES, useBilling } from './support/harness.ts';
import { delivery, SIGNED, signedProcessor } from './support/signed-processor.ts';
import { addTestModel } from './support/spend.ts';

const NUM_RUNS = Number(process.env.PROPERTY_RUNS ?? 20);
const AT = new Date('2026-03-10T12:00:00Z');

/** What each pack costs and gives: one gives value that is not whole cents, so refunds' shares round. */
const PACKS = {
  'credits-10': { priceCents: 10_00, valueMicros: 10_000_000 },
  'credits-50': { priceCents: 50_00, valueMicros: 55_000_000 },
  'odd-3': { priceCents: 3_00, valueMicros: 3_333_333 },
} as const;
type PackSlug = keyof typeof PACKS;
const PACK_SLUGS = Object.keys(PACKS) as PackSlug[];
const ACCOUNTS = 3;
/** The members of the team accounts who make calls (undefined: the account itself). */
const MEMBERS = [undefined, 'u_1', 'u_2'];

// ---------------------------------------------------------------------------------------------
// The processor: the signed one, charging saved cards as the story says

/**
 * How the processor answers an off-session charge: pending ones are told later, by webhook, as
 * paid or failed; one may be disputed, and the dispute told, before the answer comes back.
 */
type Answer = 'succeeded' | 'disputed_before_answer' | 'pending' | 'pending_then_failed' | 'declined';

interface SavedChargeMade {
  accountId: string;
  paymentRef: string;
  packSlug: PackSlug;
  amountCents: number;
  rechargeId: string;
  answer: Answer;
}

function rechargingProcessor() {
  const signed = signedProcessor();
  const state = {
    answer: 'succeeded' as Answer, made: new Map<string, SavedChargeMade>(), webhooks: [] as ProcessorEvent[], payments: 0,
    /** Delivers a webhook at once, while the charge or refund is still to be answered. */
    tellNow: async (_event: ProcessorEvent): Promise<void> => undefined,
    /** Whether a refund's webhook comes at once, while its answer is handled (else later), and those under way. */
    refundWebhookAtOnce: false,
    inFlight: [] as Promise<void>[],
  };
  const processor: Processor = {
    ...signed,
    async refund(request) {
      const answer = await signed.refund!(request);
      const event: ProcessorEvent = {
        type: 'payment.refunded', eventId: `evt_${answer.refundRef}`, accountId: request.account.id, paymentRef: request.paymentRef,
        refundRef: answer.refundRef, amountCents: request.amountCents, at: AT,
      };
      if (state.refundWebhookAtOnce) state.inFlight.push(state.tellNow(event)); // not awaited: it waits for the refund's transaction
      else state.webhooks.push(event);
      return answer;
    },
    // One payment per idempotency key, answered the same way each time it is asked.
    async chargeSaved(request: SavedChargeRequest) {
      let made = state.made.get(request.idempotencyKey);
      if (!made) {
        made = {
          accountId: request.account.id, paymentRef: `pi_saved_${++state.payments}`, packSlug: request.pack.slug as PackSlug,
          amountCents: request.amountCents, rechargeId: request.rechargeId, answer: state.answer,
        };
        state.made.set(request.idempotencyKey, made);
        // What it tells by webhook too, sooner or later: paid, or failed.
        const common = { eventId: `evt_${made.paymentRef}`, accountId: made.accountId, paymentRef: made.paymentRef, at: AT };
        state.webhooks.push(
          made.answer === 'succeeded' || made.answer === 'disputed_before_answer' || made.answer === 'pending'
            ? { ...common, type: 'payment.succeeded', packSlug: made.packSlug, amountCents: made.amountCents, rechargeId: made.rechargeId }
            : { ...common, type: 'recharge.failed', rechargeId: made.rechargeId, code: 'card_declined', message: 'Your card was declined.' },
        );
      }
      switch (made.answer) {
        case 'disputed_before_answer':
          await state.tellNow({
            type: 'payment.disputed', eventId: `evt_dp_${made.paymentRef}`, accountId: made.accountId, paymentRef: made.paymentRef, disputeRef: `dp_${made.paymentRef}`,
            amountCents: Math.ceil(made.amountCents / 2), at: AT,
          });
          return { status: 'succeeded', paymentRef: made.paymentRef };
        case 'succeeded':
          return { status: 'succeeded', paymentRef: made.paymentRef };
        case 'pending':
        case 'pending_then_failed':
          return { status: 'pending', paymentRef: made.paymentRef };
        case 'declined':
          return { status: 'declined', code: 'card_declined', message: 'Your card was declined.' };
      }
    },
  };
  return { processor, state };
}

// ---------------------------------------------------------------------------------------------
// The model: what the processor took and gave back, and so what the ledger must say

interface PaymentModel {
  ref: string;
  /** A pack bought, or an auto-recharge. */
  source: 'pack' | 'recharge';
  account: string;
  cents: number;
  /** The value it buys: the pack's, and for a recharge the debt it covered too. */
  valueMicros: number;
  credited: boolean;
}

interface RefundModel {
  paymentRef: string;
  kind: 'refund' | 'dispute' | 'dispute_won';
  cents: number;
}

class Model {
  payments = new Map<string, PaymentModel>();
  refunds = new Map<string, RefundModel>();

  refundsOf(paymentRef: string): RefundModel[] {
    return [...this.refunds.values()].filter((r) => r.paymentRef === paymentRef);
  }
  /** Cents given back of a payment told: what refunds and disputes asked, at most what it paid; nothing before it is told. */
  appliedCents(p: PaymentModel): number {
    if (!p.credited) return 0;
    const asked = this.refundsOf(p.ref).filter((r) => r.kind !== 'dispute_won').reduce((sum, r) => sum + r.cents, 0);
    return Math.min(asked, p.cents);
  }
  /** The value its refunds take back: the same share of its value as of its price, rounded down once for them all. */
  shareMicros(p: PaymentModel): number {
    return Number((BigInt(p.valueMicros) * BigInt(this.appliedCents(p))) / BigInt(p.cents));
  }
  disputed(account: string): boolean {
    return [...this.refunds.values()].some((r) => r.kind === 'dispute' && this.payments.get(r.paymentRef)?.account === account && this.payments.get(r.paymentRef)!.credited);
  }
  paymentsOf(account: string): PaymentModel[] {
    return [...this.payments.values()].filter((p) => p.account === account);
  }
}

/** The processor's event for a refund, dispute or dispute won of `cents` of a payment (its id made of `id`), naming its account or not. */
function refundEvent(kind: RefundModel['kind'], payment: PaymentModel, cents: number, eventId: string, id: string, named: boolean): ProcessorEvent {
  const common = { eventId, paymentRef: payment.ref, amountCents: cents, at: AT, ...(named ? { accountId: payment.account } : {}) };
  if (kind === 'refund') return { ...common, type: 'payment.refunded', refundRef: `re_${id}` };
  return { ...common, type: kind === 'dispute' ? 'payment.disputed' : 'payment.dispute_won', disputeRef: `dp_${id}` };
}

/** Cents of a payment, in thousandths of it (at least a cent). */
const centsOf = (payment: PaymentModel, permille: number) => Math.max(1, Math.ceil((payment.cents * permille) / 1_000));

// ---------------------------------------------------------------------------------------------
// Checks, from the ledger's own tables

/** Rows sorted by a text column, the same way whatever the database's collation. */
const sortedBy = <T,>(key: (row: T) => string, rows: T[]): T[] => rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

/** Per account: what the ledger says was credited, taken back and applied, against the model. */
async function expectLedgerAgrees(billing: Billing, sql: Sql, model: Model, accounts: readonly string[], where: string) {
  for (const account of accounts) {
    const label = `${account} after ${where}`;
    // Each payment credited once: a bucket whose reference names it, granted its value once.
    const credited = await sql.query<{ reference: string; source: string; grants: number; granted: number }>(
      `SELECT b.reference, b.source, count(l.id)::int AS grants, COALESCE(sum(l.amount_micros), 0)::bigint AS granted
       FROM buckets b LEFT JOIN ledger_entries l ON l.account_id = b.account_id AND l.bucket_id = b.id AND l.kind = 'grant'
       WHERE b.account_id = $1 AND b.source IN ('pack', 'recharge') GROUP BY b.id`,
      [account],
    );
    const expected = model.paymentsOf(account).filter((p) => p.credited).map((p) => ({ reference: `payment:${SIGNED}:${p.ref}`, source: p.source, grants: 1, granted: p.valueMicros }));
    expect(sortedBy((b) => b.reference, credited), label).toEqual(sortedBy((b) => b.reference, expected));

    // What refunds took per payment: its payment_refund entries (off its bucket, and owed), plus what they wrote off.
    const taken = await sql.query<{ ref: string; cents: number; refunded: number; taken: number; written_off: number }>(
      `SELECT p.processor_ref AS ref, p.amount_cents AS cents, p.refunded_cents AS refunded,
         COALESCE((SELECT -sum(amount_micros) FROM ledger_entries WHERE account_id = p.account_id AND payment_id = p.id AND kind = 'payment_refund'), 0)::bigint AS taken,
         COALESCE((SELECT sum(used_micros) FROM payment_refunds WHERE payment_id = p.id AND status = 'applied' AND used_value = 'write_off'), 0)::bigint AS written_off
       FROM payments p WHERE p.account_id = $1`,
      [account],
    );
    expect(
      sortedBy((p) => p.ref, taken.map((p) => ({ ref: p.ref, cents: p.cents, refunded: p.refunded, tookBack: p.taken + p.written_off }))),
      label,
    ).toEqual(
      sortedBy((p) => p.ref, model.paymentsOf(account).filter((p) => p.credited).map((p) => ({ ref: p.ref, cents: p.cents, refunded: model.appliedCents(p), tookBack: model.shareMicros(p) }))),
    );

    // Each refund told is recorded once: applied once its payment is, parked until then.
    const refunds = await sql.query<{ reference: string; status: string }>(
      `SELECT reference, status FROM payment_refunds WHERE processor = $1 AND payment_ref = ANY ($2::text[])`,
      [SIGNED, model.paymentsOf(account).map((p) => p.ref)],
    );
    expect(sortedBy((r) => r.reference, refunds), label).toEqual(
      sortedBy((r) => r.reference, [...model.refunds].filter(([, r]) => model.payments.get(r.paymentRef)!.account === account)
        .map(([reference, r]) => ({ reference, status: model.payments.get(r.paymentRef)!.credited ? 'applied' : 'parked' }))),
    );

    expect((await billing.reconcile(account)).problems, label).toEqual([]);
    expect((await billing.getAccount(account)).disputedAt !== null, `${label}: disputed`).toBe(model.disputed(account));
  }
}

/** The ledger's sums an account ends with, by kind of entry, with its debt and its payments' refunded cents. */
async function ledgerSums(sql: Sql, account: string) {
  const kinds = await sql.query<{ kind: string; sum: number }>(
    // Debt paid by a grant moves value within the account (its entries sum to nothing): whether it happens depends on the order.
    'SELECT kind, sum(amount_micros)::bigint AS sum FROM ledger_entries WHERE account_id = $1 GROUP BY kind HAVING sum(amount_micros) <> 0 ORDER BY kind',
    [account],
  );
  const [balance] = await sql.query<{ debt: number; remaining: number }>(
    `SELECT debt_micros AS debt, (SELECT COALESCE(sum(remaining_micros), 0)::bigint FROM buckets WHERE account_id = $1) AS remaining FROM account_balances WHERE account_id = $1`,
    [account],
  );
  const payments = await sql.query<{ refunded: number; status: string }>('SELECT refunded_cents AS refunded, status FROM payments WHERE account_id = $1 ORDER BY amount_cents, refunded_cents', [account]);
  return { kinds, net: balance!.remaining - balance!.debt, payments };
}

// ---------------------------------------------------------------------------------------------
// Stories

/** A pack payment of the story: whose, and which pack. */
interface PackPayment {
  account: number;
  pack: PackSlug;
}

/** Who refunds a payment: a pack payment of the story (told or not yet), or a recharge the processor charged. */
type Target = { of: 'pack'; k: number } | { of: 'recharge'; pick: number };

type Step =
  | { t: 'pay'; k: number; times: 1 | 2; secondEvent: boolean; together: boolean }
  | { t: 'refund'; target: Target; permille: number; kind: 'refund' | 'dispute' | 'dispute_won'; named: boolean; times: 1 | 2; together: boolean }
  | { t: 'again'; pick: number; together: boolean }
  | { t: 'adminRefund'; target: Target; permille: number; webhookAtOnce: boolean }
  | { t: 'use'; account: number; member: number; inputTokens: number; outputTokens: number; via: 'settle' | 'record' }
  | { t: 'autoRecharge'; account: number; pack: PackSlug; thresholdMicros: number }
  | { t: 'recharge'; runners: 1 | 2; answer: Answer }
  | { t: 'tell'; count: number; together: boolean };

const packPaymentsArb = fc.array(fc.record({ account: fc.nat(ACCOUNTS - 1), pack: fc.constantFrom(...PACK_SLUGS) }), { minLength: 2, maxLength: 6 });
const targetArb: fc.Arbitrary<Target> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ of: fc.constant('pack' as const), k: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ of: fc.constant('recharge' as const), pick: fc.nat() }) },
);
/** A part of a payment, in thousandths (a thousand: all of it, and more than a thousand: more than is left). */
const permilleArb = fc.oneof(fc.constant(1_000), fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 1, max: 1_500 }));
const timesArb = fc.constantFrom<1 | 2>(1, 1, 2);

const deliveryStepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('pay' as const), k: fc.nat(5), times: timesArb, secondEvent: fc.boolean(), together: fc.boolean() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('refund' as const), target: targetArb, permille: permilleArb,
      kind: fc.constantFrom('refund' as const, 'refund' as const, 'dispute' as const, 'dispute_won' as const), named: fc.boolean(), times: timesArb, together: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('again' as const), pick: fc.nat(), together: fc.boolean() }) },
);
const useArb: fc.Arbitrary<Step> = fc.record({
  t: fc.constant('use' as const), account: fc.nat(ACCOUNTS - 1), member: fc.nat(MEMBERS.length - 1),
  inputTokens: fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 1_000_000, max: 8_000_000 })), outputTokens: fc.integer({ min: 0, max: 500_000 }),
  via: fc.constantFrom('settle' as const, 'record' as const),
});
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 10, arbitrary: deliveryStepArb },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('adminRefund' as const), target: targetArb, permille: permilleArb, webhookAtOnce: fc.boolean() }) },
  { weight: 4, arbitrary: useArb },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('autoRecharge' as const), account: fc.nat(ACCOUNTS - 1), pack: fc.constantFrom(...PACK_SLUGS), thresholdMicros: fc.integer({ min: 1_000_000, max: 30_000_000 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('recharge' as const), runners: fc.constantFrom<1 | 2>(1, 2),
      answer: fc.constantFrom<Answer>('succeeded', 'succeeded', 'disputed_before_answer', 'pending', 'pending_then_failed', 'declined'),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('tell' as const), count: fc.integer({ min: 1, max: 3 }), together: fc.boolean() }) },
);

/** A story written out, run before the drawn ones: one of each case, so that each is reached on every run of the test. */
const EVERY_CASE: [PackPayment[], Step[]] = [
  [{ account: 0, pack: 'credits-10' }, { account: 1, pack: 'odd-3' }, { account: 2, pack: 'credits-50' }],
  [
    { t: 'refund', target: { of: 'pack', k: 1 }, permille: 500, kind: 'refund', named: false, times: 2, together: true },
    { t: 'pay', k: 1, times: 2, secondEvent: true, together: false },
    { t: 'pay', k: 0, times: 1, secondEvent: false, together: false },
    { t: 'use', account: 0, member: 0, inputTokens: 4_000_000, outputTokens: 0, via: 'record' },
    { t: 'refund', target: { of: 'pack', k: 0 }, permille: 1_000, kind: 'refund', named: true, times: 1, together: false },
    { t: 'refund', target: { of: 'pack', k: 1 }, permille: 300, kind: 'dispute', named: false, times: 1, together: false },
    { t: 'autoRecharge', account: 2, pack: 'credits-10', thresholdMicros: 5_000_000 },
    { t: 'recharge', runners: 2, answer: 'succeeded' },
    { t: 'use', account: 2, member: 1, inputTokens: 8_000_000, outputTokens: 0, via: 'record' },
    { t: 'recharge', runners: 1, answer: 'pending' },
    { t: 'tell', count: 3, together: true },
    { t: 'use', account: 2, member: 2, inputTokens: 8_000_000, outputTokens: 0, via: 'record' },
    { t: 'recharge', runners: 2, answer: 'declined' },
    { t: 'autoRecharge', account: 2, pack: 'credits-10', thresholdMicros: 5_000_000 },
    { t: 'recharge', runners: 1, answer: 'disputed_before_answer' },
    { t: 'use', account: 2, member: 0, inputTokens: 8_000_000, outputTokens: 0, via: 'record' },
    { t: 'recharge', runners: 1, answer: 'pending_then_failed' },
    { t: 'adminRefund', target: { of: 'recharge', pick: 0 }, permille: 500, webhookAtOnce: true },
    { t: 'pay', k: 2, times: 1, secondEvent: false, together: false },
    { t: 'adminRefund', target: { of: 'pack', k: 2 }, permille: 1_500, webhookAtOnce: false },
    { t: 'adminRefund', target: { of: 'pack', k: 2 }, permille: 100, webhookAtOnce: false },
    { t: 'tell', count: 3, together: false },
    { t: 'again', pick: 0, together: false },
  ],
];

// ---------------------------------------------------------------------------------------------

for (const engine of ENGINES) {
  describe(`payment properties on ${engine.name}`, () => {
    const { processor, state } = rechargingProcessor();
    const t = useBilling(engine, { processors: [processor] });

    async function setUpCatalog() {
      await t.billing.admin.applyPreset('credit-packs');
      await t.billing.admin.updatePlan('payg', { includedMicros: 0 });
      await t.billing.admin.createPack({ slug: 'odd-3', name: 'Odd', priceCents: PACKS['odd-3'].priceCents, valueMicros: PACKS['odd-3'].valueMicros });
      await addTestModel(t.billing);
      for (const slug of PACK_SLUGS) {
        const pack = await t.billing.admin.getPack(slug);
        expect({ priceCents: pack.priceCents, valueMicros: pack.valueMicrosOverride ?? pack.priceCents * 10_000 }).toEqual(PACKS[slug]);
      }
    }

    const receive = async (events: readonly ProcessorEvent[], billing: Billing = t.billing) => {
      const { body, headers } = delivery(events);
      return billing.receiveWebhook(SIGNED, body, headers);
    };

    /** One run's accounts, its delivered events, and the model beside them. */
    function world(tag: string, packPayments: readonly PackPayment[], model: Model) {
      const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `${tag}-${i}`);
      const packRef = (k: number) => `pi_${tag}_${k % packPayments.length}`;
      for (const [k, p] of packPayments.entries()) {
        model.payments.set(packRef(k), { ref: packRef(k), source: 'pack', account: accounts[p.account]!, cents: PACKS[p.pack].priceCents, valueMicros: PACKS[p.pack].valueMicros, credited: false });
      }
      /** The processor's event for pack payment k of the story. */
      const packPaid = (k: number, eventId: string): ProcessorEvent => {
        const p = model.payments.get(packRef(k))!;
        return { type: 'payment.succeeded', eventId, accountId: p.account, paymentRef: p.ref, packSlug: packPayments[k % packPayments.length]!.pack, amountCents: p.cents, at: AT };
      };
      return { accounts, packRef, packPaid };
    }

    /** The model's side of an event the engine was told: a payment credited, a refund told. */
    function told(model: Model, event: ProcessorEvent) {
      switch (event.type) {
        case 'payment.succeeded':
          model.payments.get(event.paymentRef)!.credited = true;
          break;
        case 'payment.refunded':
          model.refunds.set(event.refundRef, { paymentRef: event.paymentRef, kind: 'refund', cents: event.amountCents });
          break;
        case 'payment.disputed':
        case 'payment.dispute_won':
          model.refunds.set(event.disputeRef, { paymentRef: event.paymentRef, kind: event.type === 'payment.disputed' ? 'dispute' : 'dispute_won', cents: event.amountCents });
          break;
        default:
      }
    }

    it(
      'random interleavings of payments, refunds, disputes, usage and recharges: each payment credited once, each refund taken once, the ledger reconciled',
      async () => {
        await setUpCatalog();
        let runs = 0;
        /** Accounts auto-recharge was set for: turned off before the next run (a failed one's too), so that each run's recharges are its own accounts'. */
        const armed = new Map<string, PackSlug>();
        const reached = new Map<string, number>();
        const count = (what: string) => reached.set(what, (reached.get(what) ?? 0) + 1);
        // A second process on the database: each step's work, and each event, is done by one or the other.
        const other = await createBilling({ database: t.sql, clock: t.clock.read, processors: [processor] });
        const billings = [t.billing, other];
        try {
          await fc.assert(
            fc.asyncProperty(
              packPaymentsArb, fc.array(stepArb, { minLength: 10, maxLength: 30 }), fc.constantFrom('debt' as const, 'write_off' as const), fc.array(fc.nat(1), { minLength: 30, maxLength: 30 }),
              async (packPayments, steps, refundUsedValue, vias) => {
                runs += 1;
                const tag = `${engine.name}-${runs}`;
                const model = new Model();
                const { accounts, packRef, packPaid } = world(tag, packPayments, model);
                for (const [account, pack] of armed) await t.billing.setAutoRecharge(account, { enabled: false, pack, thresholdMicros: 1 });
                armed.clear();
                await t.billing.admin.updateSettings({ refundUsedValue });
                for (const [i, id] of accounts.entries()) await t.billing.upsertAccount({ id, kind: i === 0 ? 'personal' : 'team', processor: SIGNED });
                const delivered: ProcessorEvent[] = [];
                const rechargesSeen = new Set<string>();
                let keys = 0;

                /** The payment a target names: a pack payment of the story, or a recharge charged so far (a pack payment if none was). */
                const paymentOf = (target: Target): PaymentModel => {
                  const recharges = [...state.made.values()].filter((m) => accounts.includes(m.accountId) && m.answer !== 'declined' && m.answer !== 'pending_then_failed');
                  if (target.of === 'recharge' && recharges.length > 0) return model.payments.get(recharges[target.pick % recharges.length]!.paymentRef)!;
                  return model.payments.get(packRef(target.of === 'pack' ? target.k : target.pick))!;
                };

                /** Deliver each batch of events, one batch after another or all at once; the model learns of them once delivered. */
                const deliver = async (batches: ProcessorEvent[][], together: boolean) => {
                  if (together) await Promise.all(batches.map((events, b) => receive(events, billings[(via + b) % 2])));
                  else for (const [b, events] of batches.entries()) await receive(events, billings[(via + b) % 2]);
                  for (const event of batches.flat()) {
                    told(model, event);
                    delivered.push(event);
                  }
                };

                state.tellNow = async (event) => {
                  if (event.accountId !== undefined && accounts.includes(event.accountId)) await deliver([[event]], false);
                  else await receive([event]);
                };

                /** What the processor charged for these accounts and answered at once: credited by that answer. */
                const learnRecharges = () => {
                  for (const made of state.made.values()) {
                    if (!accounts.includes(made.accountId) || rechargesSeen.has(made.paymentRef)) continue;
                    rechargesSeen.add(made.paymentRef);
                    count(`recharge ${made.answer}${made.amountCents > PACKS[made.packSlug].priceCents ? ' (covering debt)' : ''}`);
                    const pack = PACKS[made.packSlug];
                    model.payments.set(made.paymentRef, {
                      ref: made.paymentRef, source: 'recharge', account: made.accountId, cents: made.amountCents,
                      valueMicros: pack.valueMicros + (made.amountCents - pack.priceCents) * 10_000, credited: made.answer === 'succeeded' || made.answer === 'disputed_before_answer',
                    });
                  }
                };

                let pending: ProcessorEvent[][] = [];
                /** The process this step's work and first event go to. */
                let via = 0;
                const flush = async (atOnce: boolean) => {
                  if (pending.length > 0) await deliver(pending, atOnce);
                  pending = [];
                };

                for (const [i, step] of steps.entries()) {
                  const eventId = `evt_${tag}_${i}`;
                  via = vias[i]!;
                  const billing = billings[via]!;
                  let batches: ProcessorEvent[][] | undefined;
                  let together = false;
                  switch (step.t) {
                    case 'pay': {
                      const event = packPaid(step.k, eventId);
                      // Told twice: the same event again, or another event of the processor's about the same payment.
                      batches = step.times === 1 ? [[event]] : [[event], [step.secondEvent ? { ...event, eventId: `${eventId}_b` } : event]];
                      together = step.together;
                      count('pay');
                      break;
                    }
                    case 'refund': {
                      const p = paymentOf(step.target);
                      const event = refundEvent(step.kind, p, centsOf(p, step.permille), eventId, `${tag}_${i}`, step.named);
                      batches = step.times === 1 ? [[event]] : [[event], [event]];
                      together = step.together;
                      count(`${step.kind} ${p.credited ? 'after' : 'before'} its payment${p.ref.startsWith('pi_saved_') ? ' (a recharge)' : ''}`);
                      break;
                    }
                    case 'again':
                      if (delivered.length > 0) {
                        batches = [[delivered[step.pick % delivered.length]!]];
                        together = step.together;
                        count('told again');
                      }
                      break;
                    case 'tell': {
                      // Webhooks the processor owes for its off-session charges, each told once, perhaps at once.
                      const owed = state.webhooks.filter((e) => accounts.includes((e as { accountId: string }).accountId) && !delivered.includes(e)).slice(0, step.count);
                      if (owed.length > 0) {
                        batches = owed.map((e) => [e]);
                        together = step.together;
                      }
                      for (const e of owed) count(`told ${e.type}${e.type === 'payment.succeeded' && model.payments.get(e.paymentRef)?.credited ? ' after its answer' : ''}`);
                      break;
                    }
                    default:
                      break;
                  }
                  /** What a step that tells no event does. */
                  const work = async () => {
                    switch (step.t) {
                      case 'adminRefund': {
                        const p = paymentOf(step.target);
                        if (!p.credited) break;
                        const paymentId = (await t.billing.payments(p.account)).find((row) => row.reference === p.ref)!.id;
                        const left = p.cents - model.appliedCents(p);
                        const amountCents = centsOf(p, step.permille);
                        state.refundWebhookAtOnce = step.webhookAtOnce;
                        const asked = billing.refundPayment(p.account, paymentId, { amountCents }, { idempotencyKey: `${tag}-refund-${++keys}` });
                        if (amountCents > left) {
                          await expect(asked).rejects.toMatchObject({ code: 'refund_exceeds_payment', details: { refundableCents: left } });
                          count('admin refund refused');
                          break;
                        }
                        const result = await asked;
                        expect(result).toMatchObject({ status: 'refunded', amountCents });
                        model.refunds.set(result.refundRef, { paymentRef: p.ref, kind: 'refund', cents: amountCents });
                        await Promise.all(state.inFlight.splice(0)); // its webhook told at once, if it was
                        count(`admin refund${step.webhookAtOnce ? ', its webhook at once' : ''}`);
                        break;
                      }
                      case 'use': {
                        const account = accounts[step.account]!;
                        const userId = account.endsWith('-0') ? undefined : MEMBERS[step.member];
                        const usage = { inputTokens: step.inputTokens, outputTokens: step.outputTokens };
                        if (step.via === 'record') {
                          await billing.record(account, { model: 'test-model', provider: 'test', usage, ...(userId ? { userId } : {}) }, { idempotencyKey: `${tag}-use-${++keys}` });
                          count('record');
                        } else {
                          const auth = await billing.authorize(account, { model: 'test-model', provider: 'test', inputTokens: step.inputTokens, maxOutputTokens: step.outputTokens, ...(userId ? { userId } : {}) });
                          if (auth.ok) await billing.settle(auth.hold.id, usage, { idempotencyKey: `${tag}-use-${++keys}` });
                          count(auth.ok ? 'settle' : `refused ${auth.code}`);
                        }
                        break;
                      }
                      case 'autoRecharge':
                        await billing.setAutoRecharge(accounts[step.account]!, { enabled: true, pack: step.pack, thresholdMicros: step.thresholdMicros });
                        armed.set(accounts[step.account]!, step.pack);
                        break;
                      case 'recharge': {
                        state.answer = step.answer;
                        const runs = await Promise.all(Array.from({ length: step.runners }, (_, r) => billings[(via + r) % 2]!.runRecharges()));
                        expect(runs.flat().filter((r) => r.outcome === 'retry'), 'no recharge left to retry').toEqual([]);
                        learnRecharges();
                        break;
                      }
                      default:
                        break;
                    }
                  };

                  if (batches) {
                    // Told at once with the next step when together: its events, or its work (but an admin's refund, which reads what is left first).
                    const next = steps[i + 1];
                    const joinNext = together && next !== undefined && next.t !== 'adminRefund';
                    const atOnce = together || pending.length > 0;
                    pending.push(...batches);
                    if (!joinNext) await flush(atOnce);
                    if (atOnce) count('together');
                  } else if (pending.length > 0) {
                    await Promise.all([flush(true), work()]);
                    count(`told during ${step.t}`);
                  } else {
                    await work();
                  }

                  await expectLedgerAgrees(t.billing, t.sql, model, accounts, `step ${i} ${JSON.stringify(step)}`);
                }
                await flush(true);
                learnRecharges();
                await expectLedgerAgrees(t.billing, t.sql, model, accounts, 'the story');
                const usedTaken = await t.sql.query<{ used_value: string }>(
                  `SELECT used_value FROM payment_refunds WHERE account_id = ANY ($1::text[]) AND used_micros > 0`,
                  [accounts],
                );
                for (const { used_value } of usedTaken) count(`used value refunded (${used_value})`);
              },
            ),
            // Shrinking a failure replays whole stories: stop it after a while and report the smallest found so far.
            { numRuns: NUM_RUNS, interruptAfterTimeLimit: 90_000, examples: [[...EVERY_CASE, 'debt', Array.from({ length: 30 }, (_, i) => i % 2)]] },
          );
        } finally {
          await other.close();
        }
        console.info(`[payment properties ${engine.name}] ${runs} runs reached ${JSON.stringify(Object.fromEntries([...reached].sort()))}`);
        // The stories must reach the interesting cases (the one written out reaches each), or the property proves little.
        const times = (what: string) => [...reached].filter(([label]) => label.startsWith(what)).reduce((sum, [, n]) => sum + n, 0);
        for (const what of ['refund before', 'refund after', 'dispute ', 'recharge succeeded', 'recharge pending', 'recharge declined', 'told again', 'told during', 'admin refund', 'used value']) {
          expect(times(what), what).toBeGreaterThan(0);
        }
      },
      180_000,
    );

    it('a recharge disputed before its answer came back: the answer records the payment and applies the dispute told before it', async () => {
      await setUpCatalog();
      const account = `${engine.name}-disputed`;
      await t.billing.upsertAccount({ id: account, kind: 'team', processor: SIGNED });
      state.tellNow = async (event) => void (await receive([event]));
      state.answer = 'disputed_before_answer';
      await t.billing.setAutoRecharge(account, { enabled: true, pack: 'credits-10', thresholdMicros: 1_000_000 });
      const [run] = await t.billing.runRecharges();
      expect(run).toMatchObject({ accountId: account, outcome: 'succeeded' });
      // Half of the $10 charged was disputed: half the pack's value is back out, and the account is flagged.
      expect(await t.billing.payments(account)).toMatchObject([{ reference: run!.paymentRef, refundedCents: 5_00, refunds: [{ kind: 'dispute', appliedCents: 5_00 }] }]);
      expect(await t.billing.balance(account)).toMatchObject({ availableMicros: 5_000_000, debtMicros: 0 });
      expect((await t.billing.getAccount(account)).disputedAt).not.toBeNull();
      expect((await t.billing.reconcile(account)).problems).toEqual([]);
    });

    it(
      'a story of payments, refunds, disputes and usage ends the same told in order as shuffled, twice and partly at once',
      async () => {
        await setUpCatalog();
        await t.billing.admin.updateSettings({ refundUsedValue: 'debt' });
        let runs = 0;
        const storyArb = fc.array(fc.oneof({ weight: 3, arbitrary: deliveryStepArb }, { weight: 1, arbitrary: useArb }), { minLength: 6, maxLength: 18 });
        await fc.assert(
          fc.asyncProperty(
            packPaymentsArb,
            storyArb,
            // For each thing told (at most twice 18): where it goes when shuffled, whether it is told twice, how many are told at once.
            fc.array(fc.integer(), { minLength: 36, maxLength: 36 }),
            fc.array(fc.boolean(), { minLength: 18, maxLength: 18 }),
            fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 36, maxLength: 36 }),
            async (packPayments, story, order, twice, groups) => {
              runs += 1;
              const tell = async (how: 'in-order' | 'shuffled') => {
                const tag = `${engine.name}-story-${runs}-${how}`;
                const model = new Model();
                const { accounts, packRef, packPaid } = world(tag, packPayments, model);
                for (const [i, id] of accounts.entries()) await t.billing.upsertAccount({ id, kind: i === 0 ? 'personal' : 'team', processor: SIGNED });
                // The story as things to do, each an event to tell or usage to record: once, and again (the
                // same event, or another event of the processor's about the same payment or refund; the
                // same record with its key).
                const acts = story.flatMap((step, i): { once: () => Promise<unknown>; again: () => Promise<unknown> }[] => {
                  const eventId = `evt_${tag}_${i}`;
                  const tell = (event: ProcessorEvent) => {
                    const act = (e: ProcessorEvent) => async () => {
                      await receive([e]);
                      told(model, e);
                    };
                    return [{ once: act(event), again: act(i % 2 ? { ...event, eventId: `${eventId}_again` } : event) }];
                  };
                  if (step.t === 'pay') return tell(packPaid(step.k, eventId));
                  if (step.t === 'refund') {
                    const p = model.payments.get(packRef(step.target.of === 'pack' ? step.target.k : step.target.pick))!;
                    return tell(refundEvent(step.kind, p, centsOf(p, step.permille), eventId, `${tag}_${i}`, step.named));
                  }
                  if (step.t === 'use') {
                    const usage = { inputTokens: step.inputTokens, outputTokens: step.outputTokens };
                    const act = async () => t.billing.record(accounts[step.account]!, { model: 'test-model', provider: 'test', usage }, { idempotencyKey: `${tag}-use-${i}` });
                    return [{ once: act, again: act }];
                  }
                  return [];
                });
                if (how === 'in-order') {
                  for (const { once } of acts) await once();
                } else {
                  const shuffled = acts.flatMap(({ once, again }, i) => (twice[i] ? [once, again] : [once]))
                    .map((act, i) => ({ act, key: order[i]! }))
                    .sort((a, b) => a.key - b.key)
                    .map(({ act }) => act);
                  for (let i = 0, g = 0; i < shuffled.length; g++) {
                    const size = groups[g]!;
                    await Promise.all(shuffled.slice(i, i + size).map((act) => act()));
                    i += size;
                  }
                }
                await expectLedgerAgrees(t.billing, t.sql, model, accounts, how);
                return Promise.all(accounts.map(async (account) => ({ ...(await ledgerSums(t.sql, account)), disputed: (await t.billing.getAccount(account)).disputedAt !== null })));
              };
              const inOrder = await tell('in-order');
              expect(await tell('shuffled')).toEqual(inOrder);
            },
          ),
          { numRuns: NUM_RUNS, interruptAfterTimeLimit: 90_000 },
        );
      },
      180_000,
    );
  });
}
