/**
 * Burn order: which bucket pays first. One total comparator, no clock, no database:
 *   1. lower priority number first (allowance 0, bonus/refund/adjustment 10, packs 20);
 *   2. soonest expiry first (a bucket that never expires goes last);
 *   3. oldest first;
 *   4. lowest id first, so the order is always decided.
 */
import { asMicros, type Micros } from './money.ts';

export interface DrawableBucket {
  id: number;
  priority: number;
  expiresAt: Date | null;
  createdAt: Date;
  remainingMicros: Micros;
}

export interface Allocation {
  bucketId: number;
  amountMicros: Micros;
}

export function burnOrder(a: DrawableBucket, b: DrawableBucket): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  const aExpiry = a.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
  const bExpiry = b.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
  if (aExpiry !== bExpiry) return aExpiry < bExpiry ? -1 : 1;
  const created = a.createdAt.getTime() - b.createdAt.getTime();
  if (created !== 0) return created;
  return a.id - b.id;
}

/** Draw `amount` from the buckets in burn order; what they cannot cover is the shortfall. */
export function allocate(buckets: readonly DrawableBucket[], amount: Micros): { allocations: Allocation[]; shortfallMicros: Micros } {
  const allocations: Allocation[] = [];
  let left: number = amount;
  for (const bucket of [...buckets].sort(burnOrder)) {
    if (left === 0) break;
    const take = Math.min(left, bucket.remainingMicros);
    if (take <= 0) continue;
    allocations.push({ bucketId: bucket.id, amountMicros: asMicros(take) });
    left -= take;
  }
  return { allocations, shortfallMicros: asMicros(left) };
}
