/** A paid pack becomes a bucket of value, once per payment. */
import { usableSources } from '../../core/bucket.ts';
import { BillingError } from '../../core/errors.ts';
import { asMicros } from '../../core/money.ts';
import { packValueMicros, type Pack } from '../../core/pack.ts';
import { isFree } from '../../core/plan.ts';
import type { Sql } from '../../db/sql.ts';
import { plansSpending } from '../../core/sanity.ts';
import { listPlans } from '../catalog/catalog.ts';
import { grant, type GrantResult } from './grants.ts';
import { lockGate, type Terms } from '../terms.ts';

/** Is this pack for sale to this account now? Its terms, with the gate mutex held; else the reason it is not. */
export async function assertPackPurchasable(tx: Sql, accountId: string, pack: Pack, now: Date): Promise<Terms> {
  if (pack.status !== 'active') throw new BillingError('pack_not_found', `The pack "${pack.slug}" is no longer sold`, { slug: pack.slug });
  const terms = await lockGate(tx, accountId, now);
  if (pack.requiresPlan && (isFree(terms.plan) || terms.planEnded)) {
    throw new BillingError('pack_requires_plan', `The pack "${pack.slug}" is an add-on to a paid plan: subscribe first`, { slug: pack.slug });
  }
  // Packs are spent only on plans whose overage is credits: on any other, this one would be paid for and never spent.
  if (!usableSources(terms.plan.overage).includes('pack')) {
    // The plans it could be spent on that an account can move to: on sale, and paid for an add-on.
    const plans = plansSpending(pack, (await listPlans(tx, { status: 'active' })).filter((p) => p.public)).map((p) => p.slug);
    const remedy = plans.length > 0 ? `upgrade to a plan whose usage can draw on credit packs (${plans.join(', ')}) first` : 'no plan on sale lets usage draw on them: contact support';
    throw new BillingError(
      'pack_not_usable',
      `The pack "${pack.slug}" could never be spent on the plan "${terms.plan.slug}": its usage stops at the plan's allowance and limits and never draws on credit packs. To buy it, ${remedy}`,
      { slug: pack.slug, plan: terms.plan.slug, remedy: plans.length > 0 ? { kind: 'upgrade', plans } : { kind: 'contact_support' } },
    );
  }
  return terms;
}

/**
 * A pack paid: its value as a bucket whose reference names the payment, so whoever tells of the
 * payment first (checkout's answer, a webhook, an auto-recharge's answer) credits it, once. An
 * auto-recharge's payment also covered the debt (`debtCoveredMicros`), which the bucket pays at once.
 */
export async function creditPack(
  tx: Sql,
  accountId: string,
  pack: Pack,
  payment: {
    processor: string; processorRef: string; amountCents: number; now: Date; source?: 'pack' | 'recharge'; debtCoveredMicros?: number;
    /** The pack's value when it was sold, if it may have changed since (a recharge's, fixed at its first attempt). */
    packValueMicros?: number;
  },
): Promise<GrantResult & { valueMicros: number }> {
  await tx.query(
    `INSERT INTO payments (account_id, processor, processor_ref, kind, pack_id, amount_cents, status, created_at)
     VALUES ($1, $2, $3, 'pack', $4, $5, 'succeeded', $6) ON CONFLICT (processor, processor_ref) DO NOTHING`,
    [accountId, payment.processor, payment.processorRef, pack.id, payment.amountCents, payment.now],
  );
  const valueMicros = asMicros((payment.packValueMicros ?? packValueMicros(pack)) + (payment.debtCoveredMicros ?? 0));
  const expiresAt = pack.expiresAfterDays ? new Date(payment.now.getTime() + pack.expiresAfterDays * 86_400_000) : null;
  const result = await grant(tx, {
    accountId, source: payment.source ?? 'pack', amountMicros: valueMicros, reference: `payment:${payment.processor}:${payment.processorRef}`,
    now: payment.now, expiresAt, packId: pack.id,
  });
  return { ...result, valueMicros };
}
