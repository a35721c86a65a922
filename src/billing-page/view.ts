/**
 * Everything the page shows, read for the session's account only: the account id comes from
 * the session, never from the request. Money and payments only for those who may act on them.
 */
import type { Billing } from '../engine/billing.ts';
import { readPricing, type Pricing } from '../hono/routes/pricing.ts';
import type { Plan } from '../core/plan.ts';
import type { Account } from '../engine/rows.ts';
import type { Balance, UsageRow } from '../engine/reads/reads.ts';
import type { PaymentView } from '../engine/reads/payments.ts';
import type { Display } from './money.ts';
import { recentCalls, type RecentCall } from './recent-calls.ts';
import { canAct, type BillingSession } from './session.ts';
import { zonedDateTime } from '../admin/format.ts';

/** Days the usage charts cover, today included. */
export const USAGE_DAYS = 30;

export interface View {
  session: BillingSession;
  /** The token this page's forms carry. */
  csrf: string;
  canAct: boolean;
  now: Date;
  account: Account;
  display: Display;
  balance: Balance;
  pricing: Pricing;
  /** The plan new accounts get, and a canceled plan falls back to. */
  defaultPlan: Plan | undefined;
  byModel: UsageRow[];
  /** One row per day of the range, oldest first (days without usage at zero), in the account's time zone. */
  byDay: { day: string; valueMicros: number }[];
  calls: RecentCall[];
  payments: PaymentView[];
}

export async function readView(billing: Billing, session: BillingSession, csrf: string): Promise<View> {
  const id = session.accountId;
  const now = billing.now();
  const [account, settings, balance, pricing, plans] = await Promise.all([
    billing.getAccount(id), billing.admin.getSettings(), billing.balance(id), readPricing(billing), billing.admin.listPlans(),
  ]);
  const from = new Date(now.getTime() - USAGE_DAYS * 86_400_000);
  const [byModel, byDayRows] = await Promise.all([billing.usage(id, { from, to: now, groupBy: 'model' }), billing.usage(id, { from, to: now, groupBy: 'day' })]);
  const dayValues = new Map(byDayRows.rows.map((r) => [r.key, r.valueMicros - r.refundedMicros]));
  const byDay = Array.from({ length: USAGE_DAYS }, (_, i) => {
    const day = zonedDateTime(new Date(now.getTime() - (USAGE_DAYS - 1 - i) * 86_400_000), account.timeZone).slice(0, 10);
    return { day, valueMicros: dayValues.get(day) ?? 0 };
  });
  const member = session.role === 'member';
  return {
    session, csrf, canAct: canAct(session), now, account, balance, pricing,
    display: { displayUnit: settings.displayUnit, creditValueMicros: settings.creditValueMicros },
    defaultPlan: plans.find((p) => p.id === settings.defaultPlanId),
    byModel: byModel.rows.sort((a, b) => b.valueMicros - a.valueMicros),
    byDay,
    // A member sees their own calls; one the app did not name sees none.
    calls: member && !session.userId ? [] : await recentCalls(billing, id, member ? session.userId : null),
    payments: member ? [] : await billing.payments(id),
  };
}
