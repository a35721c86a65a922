/** Database rows to domain values. Column lists live next to their mappers so they stay in step. */
import type { Micros } from '../core/money.ts';
import type { Pack } from '../core/pack.ts';
import type { Limit, Plan, PlanStatus } from '../core/plan.ts';
import type { PricingMode, Settings } from '../core/settings.ts';
import type { PriceEntry } from '../core/pricing/price.ts';

/** A plan's columns: its name and place from `p` (plans), its terms from `v` (plans: the current version; plan_versions: another). */
export const planColumns = (v: string) => `p.id AS plan_id, p.slug AS plan_slug, p.name AS plan_name, p.status AS plan_status, ${v}.price_cents AS plan_price_cents,
  ${v}.surcharge_cents AS plan_surcharge_cents, ${v}.included_micros AS plan_included_micros, ${v}.limits AS plan_limits, ${v}.overage AS plan_overage,
  ${v}.models AS plan_models, ${v}.processor_prices AS plan_processor_prices, p.public AS plan_public, p.sort AS plan_sort`;
export const PLAN_COLUMNS = planColumns('p');

export interface PlanRow {
  plan_id: number;
  plan_slug: string;
  plan_name: string;
  plan_status: PlanStatus;
  plan_price_cents: number;
  plan_surcharge_cents: number;
  plan_included_micros: number | null;
  plan_limits: Limit[];
  plan_overage: 'block' | 'credits';
  plan_models: string[];
  plan_processor_prices: Record<string, string>;
  plan_public: boolean;
  plan_sort: number;
}

export function planFromRow(r: PlanRow): Plan {
  return {
    id: r.plan_id,
    slug: r.plan_slug,
    name: r.plan_name,
    status: r.plan_status,
    priceCents: r.plan_price_cents,
    surchargeCents: r.plan_surcharge_cents,
    includedMicrosOverride: r.plan_included_micros as Micros | null,
    limits: r.plan_limits,
    overage: r.plan_overage,
    models: r.plan_models,
    processorPrices: r.plan_processor_prices,
    public: r.plan_public,
    sort: r.plan_sort,
  };
}

export const PACK_COLUMNS = `k.id, k.slug, k.name, k.status, k.price_cents, k.value_micros, k.expires_after_days, k.requires_plan, k.processor_prices, k.public, k.sort`;

export interface PackRow {
  id: number;
  slug: string;
  name: string;
  status: 'active' | 'archived';
  price_cents: number;
  value_micros: number | null;
  expires_after_days: number | null;
  requires_plan: boolean;
  processor_prices: Record<string, string>;
  public: boolean;
  sort: number;
}

export function packFromRow(r: PackRow): Pack {
  return {
    id: r.id,
    slug: r.slug,
    name: r.name,
    status: r.status,
    priceCents: r.price_cents,
    valueMicrosOverride: r.value_micros as Micros | null,
    expiresAfterDays: r.expires_after_days,
    requiresPlan: r.requires_plan,
    processorPrices: r.processor_prices,
    public: r.public,
    sort: r.sort,
  };
}

export const SETTINGS_COLUMNS = `s.margin_bps, s.display_unit, s.credit_value_micros, s.default_plan_id, s.unknown_model_policy, s.fallback_price,
  s.min_hold_micros, s.hold_ttl_seconds, s.pricing_mode, s.refund_used_value, s.past_due_grace_days`;

export interface SettingsRow {
  margin_bps: number;
  display_unit: 'usd' | 'credits';
  credit_value_micros: number;
  default_plan_id: number | null;
  unknown_model_policy: 'refuse' | 'fallback';
  fallback_price: PriceEntry | null;
  min_hold_micros: number;
  hold_ttl_seconds: number;
  pricing_mode: PricingMode | null;
  refund_used_value: 'debt' | 'write_off';
  past_due_grace_days: number;
}

export function settingsFromRow(r: SettingsRow): Settings {
  return {
    marginBps: r.margin_bps,
    displayUnit: r.display_unit,
    creditValueMicros: r.credit_value_micros as Micros,
    defaultPlanId: r.default_plan_id,
    unknownModelPolicy: r.unknown_model_policy,
    fallbackPrice: r.fallback_price,
    minHoldMicros: r.min_hold_micros as Micros,
    holdTtlSeconds: r.hold_ttl_seconds,
    pricingMode: r.pricing_mode,
    refundUsedValue: r.refund_used_value,
    pastDueGraceDays: r.past_due_grace_days,
  };
}

export interface AccountRow {
  id: string;
  kind: 'personal' | 'team';
  name: string;
  time_zone: string;
  plan_anchor_at: Date | null;
  plan_ends_at: Date | null;
  processor: string;
  processor_customer_id: string | null;
  paid_through: Date | null;
  past_due_through: Date | null;
  past_due_at: Date | null;
  /** When the account first disputed a payment (grants/payment-refunds.ts). */
  disputed_at: Date | null;
  /** The auto-recharge threshold while it runs, else null (grants/auto-recharge.ts). */
  recharge_below_micros: number | null;
  created_at: Date;
}

export interface Account {
  id: string;
  kind: 'personal' | 'team';
  name: string;
  timeZone: string;
  planId: number;
  planAnchorAt: Date | null;
  planEndsAt: Date | null;
  /** The end of the last period the processor said is paid; null where the clock runs the periods. */
  paidThrough: Date | null;
  /** A renewal whose payment failed: the end of its period, and when it first failed. */
  pastDue: { through: Date; since: Date } | null;
  /** When the account first disputed a payment (a chargeback): a flag for the admin; null if never. */
  disputedAt: Date | null;
  processor: string;
  createdAt: Date;
}

export const ACCOUNT_COLUMNS = `a.id, a.kind, a.name, a.time_zone, a.plan_anchor_at, a.plan_ends_at, a.processor, a.processor_customer_id, a.recharge_below_micros,
  a.paid_through, a.past_due_through, a.past_due_at, a.disputed_at, a.created_at`;

export function accountFromRow(r: AccountRow & { plan_id: number }): Account {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    timeZone: r.time_zone,
    planId: r.plan_id,
    planAnchorAt: r.plan_anchor_at,
    planEndsAt: r.plan_ends_at,
    paidThrough: r.paid_through,
    // Past due while the period whose payment failed is not paid yet.
    pastDue: r.past_due_through && r.past_due_at && (!r.paid_through || r.paid_through < r.past_due_through) ? { through: r.past_due_through, since: r.past_due_at } : null,
    disputedAt: r.disputed_at,
    processor: r.processor,
    createdAt: r.created_at,
  };
}
