/** Buckets hold prepaid usage value. Where value came from decides when it is spent. */
export const BUCKET_SOURCES = ['allowance', 'pack', 'recharge', 'bonus', 'refund', 'adjustment'] as const;
export type BucketSource = (typeof BUCKET_SOURCES)[number];

/** Lower is spent first: the plan's allowance (it expires with the period), then gifts, then what was paid for. */
export const DEFAULT_PRIORITY: Record<BucketSource, number> = {
  allowance: 0,
  bonus: 10,
  refund: 10,
  adjustment: 10,
  pack: 20,
  recharge: 20,
};

/** Purchased credit is spent only on plans whose overage is "credits"; everything else always. */
export function usableSources(overage: 'block' | 'credits'): BucketSource[] {
  return BUCKET_SOURCES.filter((source) => overage === 'credits' || (source !== 'pack' && source !== 'recharge'));
}

export function allowanceReference(planId: number, periodStart: Date): string {
  return `allowance:${planId}:${periodStart.toISOString()}`;
}
