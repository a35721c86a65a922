/**
 * Recharges: one durable job row per threshold crossing, run outside the charge that crossed it.
 *
 * - **Enqueued cheaply.** After a settle or record, the process looks at the account as it now
 *   remembers it (no read): if auto-recharge runs and the value available is under its
 *   threshold, one INSERT makes the job, unless one is in flight (a partial unique index keeps
 *   one per account). A process that dies between its charge and that INSERT loses nothing: the
 *   sweep (each run by default; every tenth in the server) finds armed accounts under their
 *   threshold with no job, and makes it.
 * - **Run by any process** (`runRecharges`): a job is claimed for a lease; one whose worker died
 *   is claimed again when the lease runs out. The first attempt fixes the amount (the pack plus
 *   the debt, within the monthly caps) and the value it buys, which a pack repriced before the
 *   payment completes does not change, and every attempt sends the same idempotency key
 *   (`recharge:<account>:<id>`), so a retry after a crash asks the processor for the same payment.
 * - **Credited once**, when the payment succeeds: through creditPack, whose bucket reference
 *   names the payment, so the processor's synchronous answer and its webhook credit it once
 *   between them. A decline turns auto-recharge off, saying why.
 * - **Never stuck.** A charge the processor answered pending waits for its webhook; when that is
 *   late, any process asks the processor what became of it (`chargeStatus`), less and less often,
 *   and credits or declines it as its webhook would. One not settled in a day (a week while the
 *   processor says it is processing) ends unanswered and auto-recharge turns off, as a recharge
 *   never answered does: the next one would be another payment for the same crossing.
 */
import { BillingError } from '../../core/errors.ts';
import { availableMicros } from '../../core/gate.ts';
import { centsToMicros, formatUsd, MICROS_PER_CENT } from '../../core/money.ts';
import { packValueMicros } from '../../core/pack.ts';
import { billingPeriod } from '../../core/periods.ts';
import type { Sql } from '../../db/sql.ts';
import type { Context } from '../context.ts';
import { gateSnapshot, withPendingAllowance, type GateSnapshot } from '../gate/account-state.ts';
import { readGate, readStates } from '../gate/snapshot.ts';
import type { DeclineCode, Processor, SavedCharge } from '../processor.ts';
import { PACK_COLUMNS, packFromRow, type PackRow } from '../rows.ts';
import { lockGate } from '../terms.ts';
import { offMessage, pauseUntil, turnOff } from './auto-recharge.ts';
import { applyRefundsParkedFor, lockPaymentRef } from './payment-refunds.ts';
import { assertPackPurchasable, creditPack } from './purchases.ts';

/**
 * How long a worker holds a claimed recharge before another may presume it died: longer than a
 * processor's slowest answer (Stripe's SDK waits 80 s a try), since Paddle takes no key and two
 * workers charging at once would each make a charge.
 */
const LEASE_MS = 5 * 60_000;
/**
 * How long a recharge's key is sent again: less than the day Stripe keeps an idempotency key.
 * After it, the same key could charge a second time, so an unanswered recharge ends instead.
 */
const KEY_LIFETIME_MS = 23 * 3_600_000;
/** When a charge answered pending is first checked at its processor if its webhook has not come: then as long again as it has waited, up to every 6 hours. */
const CHECK_AFTER_MS = 10 * 60_000;
const CHECK_EVERY_MAX_MS = 6 * 3_600_000;
/** How long a charge answered pending may stay unsettled: a day if its processor cannot say, a week while it says the payment is processing (a bank's). */
const UNKNOWN_LIMIT_MS = 24 * 3_600_000;
const PROCESSING_LIMIT_MS = 7 * 24 * 3_600_000;
const IN_FLIGHT = `('pending', 'charging', 'awaiting_payment')`;

const availableOf = (snap: GateSnapshot) => availableMicros(withPendingAllowance(snap).state);

/** Make the account's recharge job, unless one is in flight. */
async function enqueue(sql: Sql, accountId: string, now: Date): Promise<void> {
  await sql.query(`INSERT INTO recharges (account_id, status, run_after, created_at, updated_at) VALUES ($1, 'pending', $2, $2, $2) ON CONFLICT DO NOTHING`, [accountId, now]);
}

/** Enqueue if the account, read now, is under `thresholdMicros`. */
export async function enqueueIfDue(sql: Sql, accountId: string, thresholdMicros: number, now: Date): Promise<void> {
  if (availableOf(await readGate(sql, accountId, now)) < thresholdMicros) await enqueue(sql, accountId, now);
}

/**
 * After charges this process wrote: each account it remembers (as its own charge left it) that
 * auto-recharge watches and that is now under its threshold gets its job. Nothing is read; an
 * account not remembered is left to the sweep.
 */
export async function afterCharges(ctx: Context, accountIds: Iterable<string>): Promise<void> {
  const now = ctx.clock();
  for (const accountId of new Set(accountIds)) {
    const state = ctx.known.get(accountId, now);
    const below = state?.termsRow.recharge_below_micros;
    if (state && below != null && availableOf(gateSnapshot(state, now)) < below) await enqueue(ctx.sql, accountId, now);
  }
}

/**
 * Arm again the accounts whose paused month is over, and make the job of every armed account
 * under its threshold that has none: what a process that died after its charge did not enqueue.
 */
async function sweep(ctx: Context, now: Date): Promise<void> {
  await ctx.sql.query(
    `WITH resumed AS (
       UPDATE auto_recharge SET paused_until = NULL WHERE enabled AND off_code IS NULL AND paused_until <= $1 RETURNING account_id, threshold_micros
     )
     UPDATE accounts a SET recharge_below_micros = resumed.threshold_micros FROM resumed WHERE a.id = resumed.account_id`,
    [now],
  );
  const armed = await ctx.sql.query<{ id: string; below: number }>(
    `SELECT a.id, a.recharge_below_micros AS below FROM accounts a
     WHERE a.recharge_below_micros IS NOT NULL AND NOT EXISTS (SELECT 1 FROM recharges j WHERE j.account_id = a.id AND j.status IN ${IN_FLIGHT})`,
  );
  if (armed.length === 0) return;
  const states = await readStates(ctx.sql, armed.map((a) => a.id), now);
  for (const { id, below } of armed) {
    const state = states.get(id);
    if (state && availableOf(gateSnapshot(state, now)) < below) await enqueue(ctx.sql, id, now);
  }
}

export interface RechargeRun {
  rechargeId: number;
  accountId: string;
  outcome: 'succeeded' | 'pending' | 'declined' | 'skipped' | 'retry';
  paymentRef?: string;
  reason?: string;
}

/**
 * Run the recharges waiting (up to `limit`), here: any process may, at once, as each claims its
 * own. First, unless `sweep` is false, make those due that no charge enqueued. Run it often (the
 * server runs it every second, and sweeps every tenth).
 */
export async function runRecharges(ctx: Context, { limit = 100, sweep: sweeping = true }: { limit?: number; sweep?: boolean } = {}): Promise<RechargeRun[]> {
  if (sweeping) await sweep(ctx, ctx.clock());
  const runs: RechargeRun[] = [];
  for (let i = 0; i < limit; i++) {
    const job = await claim(ctx);
    const awaiting = job ? undefined : await claimAwaiting(ctx);
    const claimed = job ?? awaiting;
    if (!claimed) break;
    try {
      runs.push(await (job ? run(ctx, job) : check(ctx, awaiting!)));
    } catch (error) {
      // Left claimed: when its lease runs out, it is run again, as if this process had died.
      runs.push({ rechargeId: claimed.id, accountId: claimed.account_id, outcome: 'retry', reason: error instanceof Error ? error.message : String(error) });
    }
    ctx.known.forget(claimed.account_id); // its ledger and terms moved here
  }
  return runs;
}

interface JobRow {
  id: number;
  account_id: string;
  attempts: number;
  amount_cents: number | null;
  debt_cents: number | null;
  pack_id: number | null;
  first_sent_at: Date | null;
}

/** The next recharge to run, claimed for a lease: one waiting, or one whose worker's lease ran out. */
async function claim(ctx: Context): Promise<JobRow | undefined> {
  const now = ctx.clock();
  const [job] = await ctx.sql.query<JobRow>(
    `UPDATE recharges SET status = 'charging', attempts = attempts + 1, run_after = $2, updated_at = $1
     WHERE id = (SELECT id FROM recharges WHERE status IN ('pending', 'charging') AND run_after <= $1 ORDER BY run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING id, account_id, attempts, amount_cents, debt_cents, pack_id, first_sent_at`,
    [now, new Date(now.getTime() + LEASE_MS)],
  );
  return job;
}

interface AwaitingRow {
  id: number;
  account_id: string;
  processor: string | null;
  payment_ref: string;
  amount_cents: number;
  /** When its key was first sent (before 0025: when it was made). */
  sent_at: Date;
}

/**
 * The next recharge awaiting its payment whose webhook is late, claimed for a lease: it stays
 * awaiting, so its webhook may still finish it meanwhile, and no other process checks it.
 */
async function claimAwaiting(ctx: Context): Promise<AwaitingRow | undefined> {
  const now = ctx.clock();
  const [job] = await ctx.sql.query<AwaitingRow>(
    `UPDATE recharges SET run_after = $2
     WHERE id = (SELECT id FROM recharges WHERE status = 'awaiting_payment' AND run_after <= $1 ORDER BY run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING id, account_id, processor, payment_ref, amount_cents, COALESCE(first_sent_at, created_at) AS sent_at`,
    [now, new Date(now.getTime() + LEASE_MS)],
  );
  return job;
}

/**
 * A charge answered pending whose webhook has not come: its processor says what became of it, and
 * it is credited or declined as its webhook would (which, late, then finds it done). Still
 * pending, or not known, it is asked again later, until the time a payment may take is over.
 */
async function check(ctx: Context, job: AwaitingRow): Promise<RechargeRun> {
  const done = (outcome: RechargeRun['outcome'], more: Partial<RechargeRun> = {}): RechargeRun => ({ rechargeId: job.id, accountId: job.account_id, outcome, paymentRef: job.payment_ref, ...more });
  const processor = job.processor === null ? undefined : ctx.processors.get(job.processor);
  let answer: SavedCharge | undefined;
  let unknown = processor?.chargeStatus ? '' : `the processor "${job.processor}" cannot be asked about the payment here`;
  if (processor?.chargeStatus) {
    try {
      answer = await processor.chargeStatus(job.payment_ref);
    } catch (error) {
      unknown = error instanceof Error ? error.message : String(error);
    }
  }
  const now = ctx.clock();
  if (answer?.status === 'succeeded') {
    await recordPaid(ctx, job.account_id, job.id, processor!.name, answer, now);
    return done('succeeded', { paymentRef: answer.paymentRef });
  }
  if (answer?.status === 'declined') {
    await ctx.sql.transaction((tx) => declineRecharge(tx, job.account_id, job.id, answer.code, answer.message, now));
    return done('declined', { reason: answer.message });
  }
  const waited = now.getTime() - new Date(job.sent_at).getTime();
  const amount = formatUsd(centsToMicros(job.amount_cents));
  if (answer ? waited > PROCESSING_LIMIT_MS : waited > UNKNOWN_LIMIT_MS) {
    const reason = answer
      ? `the processor still says the recharge of ${amount} (${job.payment_ref}) is processing after a week`
      : `the processor has not said for a day whether the recharge of ${amount} (${job.payment_ref}) was paid`;
    await ctx.sql.transaction(async (tx) => {
      await lockGate(tx, job.account_id, now);
      await endUnanswered(tx, job.account_id, job.id, reason, now);
    });
    return done('skipped', { reason });
  }
  const next = new Date(now.getTime() + Math.min(CHECK_EVERY_MAX_MS, Math.max(CHECK_AFTER_MS, waited)));
  const reason = answer ? 'the processor says the payment is processing' : unknown;
  await ctx.sql.query(`UPDATE recharges SET run_after = $2, reason = $3 WHERE id = $1 AND status = 'awaiting_payment'`, [job.id, next, reason.slice(0, 2_000)]);
  return done('pending', { reason });
}

/**
 * A recharge never settled ends, if still in flight, and auto-recharge turns off until someone
 * checks the processor: a new recharge could be a second payment for the same crossing. Its
 * payment, if it was made, is still credited once by its webhook. Under the gate mutex.
 */
async function endUnanswered(tx: Sql, accountId: string, rechargeId: number, reason: string, now: Date): Promise<void> {
  const ended = await tx.query(`UPDATE recharges SET status = 'unanswered', reason = $3, updated_at = $4 WHERE id = $1 AND account_id = $2 AND status IN ${IN_FLIGHT} RETURNING id`, [
    rechargeId, accountId, reason, now,
  ]);
  if (ended.length > 0) await turnOff(tx, accountId, 'processor_unanswered', `${reason}: check the account's payments at the processor before turning it on again.`, now);
}

/** The processor says the recharge's payment succeeded: credited as a webhook recording it is, its lock first, and the refunds or disputes told before it applied once it is recorded. */
async function recordPaid(ctx: Context, accountId: string, rechargeId: number, processor: string, paid: { paymentRef: string; amountCents?: number }, now: Date): Promise<void> {
  await ctx.sql.transaction(async (tx) => {
    await lockPaymentRef(tx, processor, paid.paymentRef);
    await completeRecharge(tx, accountId, rechargeId, processor, paid.paymentRef, now, paid.amountCents);
    await applyRefundsParkedFor(tx, processor, paid.paymentRef, now);
  });
}

/** What a recharge asks its processor for, fixed at its first attempt. */
interface Charge {
  processor: Processor;
  request: Parameters<NonNullable<Processor['chargeSaved']>>[0];
}

async function run(ctx: Context, job: JobRow): Promise<RechargeRun> {
  const done = (outcome: RechargeRun['outcome'], more: Partial<RechargeRun> = {}): RechargeRun => ({ rechargeId: job.id, accountId: job.account_id, outcome, ...more });
  const prepared = await ctx.sql.transaction((tx) => prepare(ctx, tx, job));
  if ('skipped' in prepared) return done('skipped', { reason: prepared.skipped });
  if ('later' in prepared) return done('retry', { reason: prepared.later });
  const { processor, request } = prepared;
  let answer: SavedCharge;
  try {
    answer = processor.chargeSaved
      ? await processor.chargeSaved(request)
      : { status: 'declined', code: 'no_payment_method', message: `${processor.name} cannot charge a saved card` };
  } catch (error) {
    // Whether it charged is unknown: run it again later, with the same key and amount.
    const reason = error instanceof Error ? error.message : String(error);
    const retryAt = new Date(ctx.clock().getTime() + Math.min(3_600_000, 5_000 * 2 ** job.attempts));
    await ctx.sql.query(`UPDATE recharges SET status = 'pending', run_after = $2, reason = $3, updated_at = $4 WHERE id = $1 AND status = 'charging'`, [
      job.id, retryAt, reason.slice(0, 2_000), ctx.clock(),
    ]);
    return done('retry', { reason });
  }
  const now = ctx.clock();
  switch (answer.status) {
    case 'succeeded':
      await recordPaid(ctx, job.account_id, job.id, processor.name, answer, now);
      return done('succeeded', { paymentRef: answer.paymentRef });
    case 'pending':
      // Its webhook finishes it (and may have already); if it is late, the processor is asked (check).
      await ctx.sql.query(`UPDATE recharges SET status = 'awaiting_payment', payment_ref = $2, run_after = $4, updated_at = $3 WHERE id = $1 AND status = 'charging'`, [
        job.id, answer.paymentRef, now, new Date(now.getTime() + CHECK_AFTER_MS),
      ]);
      return done('pending', { paymentRef: answer.paymentRef });
    case 'declined':
      await ctx.sql.transaction((tx) => declineRecharge(tx, job.account_id, job.id, answer.code, answer.message, now));
      return done('declined', { reason: answer.message });
  }
}

/**
 * Under the gate mutex: on the first attempt, is the recharge still due and within the caps, and
 * for how much (the pack, plus the debt in whole cents)? A retry asks for what the first asked.
 */
async function prepare(ctx: Context, tx: Sql, job: JobRow): Promise<Charge | { skipped: string } | { later: string }> {
  const now = ctx.clock();
  const terms = await lockGate(tx, job.account_id, now);
  const skip = async (reason: string) => {
    await tx.query(`UPDATE recharges SET status = 'skipped', reason = $2, updated_at = $3 WHERE id = $1`, [job.id, reason, now]);
    return { skipped: reason };
  };
  const [setting] = await tx.query<{ enabled: boolean; off_code: string | null; paused_until: Date | null; pack_id: number; threshold_micros: number; monthly_max_count: number | null; monthly_max_micros: number | null }>(
    'SELECT enabled, off_code, paused_until, pack_id, threshold_micros, monthly_max_count, monthly_max_micros FROM auto_recharge WHERE account_id = $1',
    [job.account_id],
  );
  let { amount_cents: amountCents, debt_cents: debtCents, pack_id: packId } = job;
  if (amountCents === null || debtCents === null || packId === null) {
    if (!setting?.enabled || setting.off_code || (setting.paused_until && setting.paused_until > now)) return skip('auto-recharge is not on');
    const snap = await readGate(tx, job.account_id, now);
    if (availableOf(snap) >= setting.threshold_micros) return skip('no longer under the threshold');
    const [row] = await tx.query<PackRow>(`SELECT ${PACK_COLUMNS} FROM packs k WHERE k.id = $1`, [setting.pack_id]);
    const pack = packFromRow(row!);
    try {
      await assertPackPurchasable(tx, job.account_id, pack, now);
    } catch (error) {
      // Archived, or the account's plan no longer spends packs: nothing to buy until it is set again.
      if (!(error instanceof BillingError)) throw error;
      await turnOff(tx, job.account_id, 'pack_unavailable', `the pack "${pack.slug}" can no longer be bought for this account (${error.message.replace(/\.$/, '')}).`, now);
      return skip(`the pack is not for sale to the account: ${error.message}`);
    }
    packId = setting.pack_id;
    debtCents = Math.ceil(withPendingAllowance(snap).state.debtMicros / MICROS_PER_CENT);
    amountCents = pack.priceCents + debtCents;
    const month = billingPeriod(null, now, terms.account.timeZone);
    const [used] = await tx.query<{ count: number; cents: number }>(
      `SELECT count(*)::int AS count, COALESCE(sum(amount_cents), 0)::bigint AS cents FROM recharges
       WHERE account_id = $1 AND id <> $2 AND status IN ('charging', 'awaiting_payment', 'succeeded') AND amount_cents IS NOT NULL AND created_at >= $3`,
      [job.account_id, job.id, month.start],
    );
    const overCount = setting.monthly_max_count !== null && used!.count + 1 > setting.monthly_max_count;
    const overMicros = setting.monthly_max_micros !== null && centsToMicros(used!.cents + amountCents) > setting.monthly_max_micros;
    if (overCount || overMicros) {
      await pauseUntil(tx, job.account_id, month.end, now);
      return skip(overCount ? 'the monthly number of recharges is reached' : 'the monthly amount of recharges would be passed');
    }
    await tx.query('UPDATE recharges SET amount_cents = $2, debt_cents = $3, pack_id = $4, processor = $5, value_micros = $6 WHERE id = $1', [
      job.id, amountCents, debtCents, packId, terms.account.processor, packValueMicros(pack),
    ]);
  }
  if (job.first_sent_at && now.getTime() - new Date(job.first_sent_at).getTime() > KEY_LIFETIME_MS) {
    const amount = formatUsd(centsToMicros(amountCents));
    const reason = `the processor did not answer the recharge of ${amount} for a day, and a new attempt could charge twice`;
    await endUnanswered(tx, job.account_id, job.id, reason, now);
    return { skipped: reason };
  }
  const processor = ctx.processors.get(terms.account.processor);
  if (!processor) {
    // Perhaps charged already by a process that has it: left for one that does, never dropped.
    const reason = `the processor "${terms.account.processor}" is not configured in this process`;
    await tx.query(`UPDATE recharges SET status = 'pending', run_after = $2, reason = $3 WHERE id = $1`, [job.id, new Date(now.getTime() + LEASE_MS), reason]);
    return { later: reason };
  }
  const [pack] = await tx.query<PackRow>(`SELECT ${PACK_COLUMNS} FROM packs k WHERE k.id = $1`, [packId]);
  const [customer] = await tx.query<{ processor_customer_id: string | null }>('SELECT processor_customer_id FROM accounts WHERE id = $1', [job.account_id]);
  // One that has ended (its cancel's moment passed) charges nothing: Paddle refuses it, and would for ever.
  const [subscription] = await tx.query<{ processor_ref: string }>(
    `SELECT processor_ref FROM subscriptions WHERE account_id = $1 AND status = 'active' AND (cancel_at IS NULL OR cancel_at > $2) ORDER BY started_at DESC LIMIT 1`,
    [job.account_id, now],
  );
  // From now its key is out: a retry sends it again for a day at most (KEY_LIFETIME_MS).
  if (!job.first_sent_at) await tx.query('UPDATE recharges SET first_sent_at = $2 WHERE id = $1', [job.id, now]);
  return {
    processor,
    request: {
      account: terms.account,
      customerId: customer?.processor_customer_id ?? undefined,
      pack: packFromRow(pack!),
      amountCents,
      rechargeId: String(job.id),
      idempotencyKey: `recharge:${job.account_id}:${job.id}`,
      subscriptionRef: subscription?.processor_ref,
    },
  };
}

/**
 * The recharge's payment succeeded (the processor's answer, or its webhook, whichever comes
 * first): its pack and the debt it covered are credited once, keyed by the payment. The payment
 * is what the processor says it charged (`chargedCents`, tax included), so that its refunds,
 * told tax included, take back their share; else what the recharge asked.
 */
export async function completeRecharge(tx: Sql, accountId: string, rechargeId: number, processor: string, paymentRef: string, now: Date, chargedCents?: number): Promise<boolean> {
  await lockGate(tx, accountId, now);
  const [job] = await tx.query<JobRow & { value_micros: number | null }>(
    'SELECT id, account_id, attempts, amount_cents, debt_cents, pack_id, first_sent_at, value_micros FROM recharges WHERE id = $1 AND account_id = $2 FOR UPDATE',
    [rechargeId, accountId],
  );
  if (!job || job.pack_id === null || job.amount_cents === null) return false;
  const [pack] = await tx.query<PackRow>(`SELECT ${PACK_COLUMNS} FROM packs k WHERE k.id = $1`, [job.pack_id]);
  await creditPack(tx, accountId, packFromRow(pack!), {
    processor, processorRef: paymentRef, amountCents: chargedCents ?? job.amount_cents, now, source: 'recharge', debtCoveredMicros: centsToMicros(job.debt_cents ?? 0),
    // What its first attempt charged for, though the pack was repriced since.
    ...(job.value_micros !== null && { packValueMicros: job.value_micros }),
  });
  await tx.query(`UPDATE recharges SET status = 'succeeded', payment_ref = $2, reason = NULL, updated_at = $3 WHERE id = $1`, [rechargeId, paymentRef, now]);
  return true;
}

/** The recharge's payment was declined: the job ends, and auto-recharge turns off, saying why. */
export async function declineRecharge(tx: Sql, accountId: string, rechargeId: number, code: DeclineCode, message: string, now: Date): Promise<void> {
  await lockGate(tx, accountId, now);
  const [job] = await tx.query<{ amount_cents: number | null }>(
    `UPDATE recharges SET status = 'declined', reason = $3, updated_at = $4 WHERE id = $1 AND account_id = $2 AND status IN ${IN_FLIGHT} RETURNING amount_cents`,
    [rechargeId, accountId, `${code}: ${message}`.slice(0, 2_000), now],
  );
  // A decline told of a recharge that ended already (its webhook after the answer) changes nothing more.
  if (job) await turnOff(tx, accountId, code, offMessage(code, job.amount_cents ?? 0, message), now);
}

export interface RechargeView {
  id: number;
  status: 'pending' | 'charging' | 'awaiting_payment' | 'succeeded' | 'declined' | 'skipped' | 'unanswered';
  /** What it charges (the pack plus the debt), once its first attempt fixed it. */
  amountCents: number | null;
  debtCents: number | null;
  paymentRef: string | null;
  attempts: number;
  /** Why it was skipped or declined, or what the last attempt that failed said. */
  reason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The account's latest recharges, newest first: for the admin panel. */
export async function recentRecharges(sql: Sql, accountId: string, limit = 10): Promise<RechargeView[]> {
  return sql.query<RechargeView>(
    `SELECT id, status, amount_cents AS "amountCents", debt_cents AS "debtCents", payment_ref AS "paymentRef", attempts, reason, created_at AS "createdAt", updated_at AS "updatedAt"
     FROM recharges WHERE account_id = $1 ORDER BY id DESC LIMIT $2`,
    [accountId, limit],
  );
}
