/**
 * What Tollgate writes in the custom data of every object it makes at Paddle, and reads back
 * from its webhooks: the account an object belongs to, and the plan or pack it sells. Paddle
 * copies a transaction's custom data to the subscription it creates, and a subscription's to
 * each of its later transactions (renewals, one-time charges), so every webhook about them
 * names its account.
 */
export const ACCOUNT_KEY = 'tollgate_account';
export const PLAN_KEY = 'tollgate_plan';
export const PACK_KEY = 'tollgate_pack';
/** On an auto-recharge's one-time charge (its price's custom data): the recharge it pays. */
export const RECHARGE_KEY = 'tollgate_recharge';

/** A custom data value, when it is there and a non-empty string (custom data is any JSON). */
export function customValue(customData: unknown, key: string): string | undefined {
  if (typeof customData !== 'object' || customData === null) return undefined;
  const value = (customData as Record<string, unknown>)[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The recharge a transaction's items name (an auto-recharge's one-time charge: recharge.ts puts it on the price). */
export function rechargeNamed(items: readonly { price?: { customData?: unknown } | null }[]): { packSlug: string; rechargeId: string } | undefined {
  for (const item of items) {
    const packSlug = customValue(item.price?.customData, PACK_KEY);
    const rechargeId = customValue(item.price?.customData, RECHARGE_KEY);
    if (packSlug && rechargeId) return { packSlug, rechargeId };
  }
  return undefined;
}
