/**
 * What the gate weighs for an account, read in one statement so it is one consistent
 * snapshot: usable value, open holds, debt and this window's usage.
 */
import { allowanceReference, usableSources } from '../core/bucket.ts';
import type { GateState, Offers } from '../core/gate.ts';
import type { Sql } from '../db/sql.ts';
import type { Terms } from './terms.ts';

export interface Snapshot {
  always_micros: number;
  prepaid_micros: number;
  debt_micros: number;
  held_micros: number;
  held_tokens: number;
  day_micros: number;
  day_tokens: number;
  month_micros: number;
  month_tokens: number;
  allowance_opened: boolean;
}

/** Read after the gate mutex is held, so no hold placed before it is missed. */
export async function readSnapshot(tx: Sql, terms: Terms): Promise<Snapshot> {
  const [row] = await tx.query<Snapshot>(
    `WITH usable AS (
       SELECT source, remaining_micros FROM buckets
       WHERE account_id = $1 AND remaining_micros > 0 AND starts_at <= $2 AND (expires_at IS NULL OR expires_at > $2)
     ), held AS (
       SELECT sum(amount_micros) AS micros, sum(tokens) AS tokens FROM holds WHERE account_id = $1 AND status = 'open' AND expires_at > $2
     )
     SELECT
       (SELECT COALESCE(sum(remaining_micros), 0)::bigint FROM usable WHERE source <> ALL ($3::text[])) AS always_micros,
       (SELECT COALESCE(sum(remaining_micros), 0)::bigint FROM usable WHERE source = ANY ($3::text[])) AS prepaid_micros,
       (SELECT debt_micros FROM account_balances WHERE account_id = $1) AS debt_micros,
       COALESCE(held.micros, 0)::bigint AS held_micros, COALESCE(held.tokens, 0)::bigint AS held_tokens,
       COALESCE(d.value_micros, 0) AS day_micros, COALESCE(d.tokens, 0) AS day_tokens,
       COALESCE(m.value_micros, 0) AS month_micros, COALESCE(m.tokens, 0) AS month_tokens,
       EXISTS (SELECT 1 FROM buckets WHERE account_id = $1 AND reference = $6) AS allowance_opened
     FROM held
     LEFT JOIN usage_windows d ON d.account_id = $1 AND d.window_kind = 'day' AND d.starts_at = $5
     LEFT JOIN usage_windows m ON m.account_id = $1 AND m.window_kind = 'month' AND m.starts_at = $4`,
    [terms.account.id, terms.now, ['pack', 'recharge'], terms.period.start, terms.day.start, allowanceReference(terms.plan.id, terms.period.start)],
  );
  return row!;
}

export function gateState(terms: Terms, snap: Snapshot, model: { allowed: boolean; priced: boolean }): GateState {
  const prepaidUsable = usableSources(terms.plan.overage).includes('pack');
  return {
    plan: terms.plan,
    modelAllowed: model.allowed,
    modelPriced: model.priced,
    usableMicros: snap.always_micros + (prepaidUsable ? snap.prepaid_micros : 0),
    debtMicros: snap.debt_micros,
    held: { valueMicros: snap.held_micros, tokens: snap.held_tokens },
    used: {
      day: { valueMicros: snap.day_micros, tokens: snap.day_tokens },
      month: { valueMicros: snap.month_micros, tokens: snap.month_tokens },
    },
    day: terms.day,
    period: terms.period,
  };
}

export async function readOffers(tx: Sql, terms: Terms): Promise<Offers> {
  const [row] = await tx.query<Offers>(
    `SELECT EXISTS (SELECT 1 FROM packs WHERE status = 'active' AND public AND (NOT requires_plan OR $1 > 0)) AS packs,
            EXISTS (SELECT 1 FROM plans WHERE status = 'active' AND public AND price_cents > $1) AS upgrade`,
    [terms.plan.priceCents],
  );
  return row!;
}

