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
import { displayOf, type Display } from './money.ts';
import { recentCalls, type RecentCall } from './recent-calls.ts';
import { canAct, type BillingSession } from './session.ts';
import { zonedDateTime } from '../admin/format.ts';
import { dayPeriod } from '../core/periods.ts';

/** The ranges the usage section offers, in days up to today; 30 unless the page asks for another. */
export const USAGE_RANGES = [7, 30, 90] as const;
export type UsageRange = (typeof USAGE_RANGES)[number];
export const usageRange = (asked: string | undefined): UsageRange => USAGE_RANGES.find((days) => String(days) === asked) ?? 30;

export interface UsageView {
  /** Whose page it is: its links name the session. */
  session: BillingSession;
  days: UsageRange;
  /** Whose it is: a member sees the team's use, and their own calls. */
  member: boolean;
  timeZone: string;
  display: Display;
  byModel: UsageRow[];
  /** One row per day of the range, oldest first (days without usage at zero), in the account's time zone. */
  byDay: { day: string; valueMicros: number }[];
  calls: RecentCall[];
}

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
  usage: UsageView;
  payments: PaymentView[];
  /** What a payment was for, by its plan's or pack's slug: the name the customer bought it under, on sale still or not. */
  names: { plan: Map<string, string>; pack: Map<string, string> };
  /** A plan's monthly price in cents, by its slug: a payment of it is a month of the plan. */
  planPrices: Map<string, number>;
}

export async function readView(billing: Billing, session: BillingSession, csrf: string, days: UsageRange): Promise<View> {
  const id = session.accountId;
  const [account, settings, balance, pricing, plans, packs] = await Promise.all([
    billing.getAccount(id), billing.admin.getSettings(), billing.balance(id), readPricing(billing), billing.admin.listPlans(), billing.admin.listPacks(),
  ]);
  const display = displayOf(settings);
  return {
    session, csrf, canAct: canAct(session), now: billing.now(), account, balance, pricing, display,
    defaultPlan: plans.find((p) => p.id === settings.defaultPlanId),
    usage: await readUsage(billing, session, account, display, days),
    payments: canAct(session) ? await billing.payments(id) : [],
    names: { plan: new Map(plans.map((p) => [p.slug, p.name])), pack: new Map(packs.map((p) => [p.slug, p.name])) },
    planPrices: new Map(plans.map((p) => [p.slug, p.priceCents])),
  };
}

/** The usage section's figures over the last `days` days. */
export async function readUsage(billing: Billing, session: BillingSession, account: Account, display: Display, days: UsageRange): Promise<UsageView> {
  const now = billing.now();
  // The days shown, oldest first: calendar days in the account's time zone, stepped back from
  // today's start (a day around a change of clocks is 23 or 25 hours, not 24).
  const shown = [dayPeriod(now, account.timeZone)];
  while (shown.length < days) shown.unshift(dayPeriod(new Date(shown[0]!.start.getTime() - 1), account.timeZone));
  // From the start of the first day shown, so that the total is the chart's days.
  const from = shown[0]!.start;
  // The range's end is excluded: a minute past now takes in a call made this instant, or by a process whose clock is a little ahead.
  const to = new Date(now.getTime() + 60_000);
  const [byModel, byDayRows] = await Promise.all([billing.usage(account.id, { from, to, groupBy: 'model' }), billing.usage(account.id, { from, to, groupBy: 'day' })]);
  const dayValues = new Map(byDayRows.rows.map((r) => [r.key, r.valueMicros - r.refundedMicros]));
  const byDay = shown.map((period) => {
    const day = zonedDateTime(period.start, account.timeZone).slice(0, 10);
    return { day, valueMicros: dayValues.get(day) ?? 0 };
  });
  const member = session.role === 'member';
  return {
    session, days, member, timeZone: account.timeZone, display,
    byModel: byModel.rows.sort((a, b) => b.valueMicros - a.valueMicros),
    byDay,
    // A member sees their own calls, of the range shown; one the app did not name sees none.
    calls: member && !session.userId ? [] : await recentCalls(billing, account.id, member ? session.userId : null, from),
  };
}
