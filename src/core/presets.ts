/**
 * The four pricing modes as starting points. Each is plain data the admin can edit after
 * applying it. Every mode has a tight free tier so a new account can try the product:
 * in credit-packs it is the pay-as-you-go plan (purchased credit must always be usable),
 * in the subscription modes a Free plan with cheap models only and a daily cap.
 */
import type { Micros } from './money.ts';
import { packToInput, type Pack, type PackInput } from './pack.ts';
import { includedMicros, planToInput, type Plan, type PlanInput } from './plan.ts';
import type { PricingMode } from './settings.ts';

export interface Preset {
  mode: PricingMode;
  plans: PlanInput[];
  packs: PackInput[];
  defaultPlan: string;
  displayUnit: 'usd' | 'credits';
}

const CHEAP_MODELS = ['gpt-4o-mini', 'gpt-4.1-mini', 'gpt-4.1-nano', 'gpt-5-mini', 'gpt-5-nano', 'claude-3-5-haiku*', 'claude-haiku-*', 'gemini-*flash*'];

const FREE: PlanInput = {
  slug: 'free',
  name: 'Free',
  priceCents: 0,
  includedMicros: 500_000, // $0.50 of usage a month
  limits: [
    { window: 'day', unit: 'usd', amount: 100_000 }, // $0.10 a day
    { window: 'month', unit: 'usd', amount: 500_000 },
  ],
  overage: 'block',
  models: CHEAP_MODELS,
  sort: 0,
};

export const PRESETS: Record<PricingMode, Preset> = {
  'usage-subscription': {
    mode: 'usage-subscription',
    defaultPlan: 'free',
    displayUnit: 'usd',
    plans: [
      FREE,
      { slug: 'pro', name: 'Pro', priceCents: 20_00, limits: [{ window: 'month', unit: 'usd', amount: 20_000_000 }], overage: 'block', sort: 1 },
    ],
    packs: [],
  },
  'credit-packs': {
    mode: 'credit-packs',
    defaultPlan: 'payg',
    displayUnit: 'credits',
    plans: [{ slug: 'payg', name: 'Pay as you go', priceCents: 0, includedMicros: 100_000, overage: 'credits', sort: 0 }],
    packs: [
      { slug: 'credits-10', name: '1,000 credits', priceCents: 10_00, sort: 0 },
      { slug: 'credits-50', name: '5,500 credits', priceCents: 50_00, valueMicros: 55_000_000, sort: 1 },
    ],
  },
  'subscription-plus-packs': {
    mode: 'subscription-plus-packs',
    defaultPlan: 'free',
    displayUnit: 'credits',
    plans: [FREE, { slug: 'plus', name: 'Plus', priceCents: 20_00, overage: 'credits', sort: 1 }],
    packs: [{ slug: 'extra-10', name: '1,000 extra credits', priceCents: 10_00, requiresPlan: true, sort: 0 }],
  },
  tiers: {
    mode: 'tiers',
    defaultPlan: 'free',
    displayUnit: 'usd',
    plans: [
      FREE,
      { slug: 'starter', name: 'Starter', priceCents: 20_00, overage: 'block', sort: 1 },
      { slug: 'pro', name: 'Pro', priceCents: 100_00, overage: 'block', sort: 2 },
      { slug: 'max', name: 'Max', priceCents: 200_00, overage: 'block', sort: 3 },
    ],
    packs: [],
  },
};

// ---------------------------------------------------------------------------------------------
// What applying a preset does, as a diff against the catalog

export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

interface Named {
  slug: string;
  name: string;
}

/** Named by the preset and already there: the fields it sets that differ, the rest kept. */
export interface ItemUpdate extends Named {
  changes: FieldChange[];
}

/**
 * What applying a preset does to the catalog, computed once from the catalog as it is: the
 * admin panel shows it, and applyPreset does what it says and nothing else.
 */
export interface PresetDiff {
  mode: PricingMode;
  defaultPlan: string;
  displayUnit: 'usd' | 'credits';
  plans: {
    /** The preset's own input, and the value it will include. */
    create: (Named & { priceCents: number; includedMicros: Micros; input: PlanInput })[];
    update: ItemUpdate[];
    /** Named by the preset and already as it says. */
    unchanged: Named[];
    /** Taken off sale, kept for the accounts on them. */
    legacy: (Named & { accounts: number })[];
    /** Taken off sale, with nobody on them. */
    archive: Named[];
    /** Neither named by the preset nor on sale: left as they are. */
    untouched: (Named & { status: string })[];
  };
  packs: {
    create: (Named & { priceCents: number; input: PackInput })[];
    update: ItemUpdate[];
    unchanged: Named[];
    archive: Named[];
    untouched: (Named & { status: string })[];
  };
}

/** The catalog a preset is applied to: every plan and pack, and how many accounts are on each plan (by plan id). */
export interface CatalogNow {
  plans: readonly Plan[];
  packs: readonly Pack[];
  accountsOnPlan: ReadonlyMap<number, number>;
}

/**
 * A preset's plan is its terms whole: a term it does not name is a new plan's (no surcharge, the
 * allowance price − surcharge, no limits, no models list), never what the plan had, so a Pro made
 * $100 keeps no $20 limit. Its subscribers keep the version they bought (engine/catalog/plan-versions.ts).
 */
const PLAN_TERMS: Partial<PlanInput> = { surchargeCents: 0, includedMicros: null, limits: [], overage: 'block', models: [] };

/**
 * The preset against the catalog: its plans and packs are created, or updated over what they
 * are now (fields it does not name are kept, a plan's terms aside: PLAN_TERMS) and made active; other plans on sale become
 * legacy when accounts are on them, else archived; other packs on sale are archived;
 * everything else is left alone. Nobody's credit is touched.
 */
export function presetDiff(preset: Preset, catalog: CatalogNow): PresetDiff {
  const plans = sortOut(preset.plans, catalog.plans, planToInput, PLAN_TERMS);
  const packs = sortOut(preset.packs, catalog.packs, packToInput, {});
  const onSale = plans.others.filter((p) => p.status === 'active');
  const accounts = (plan: Plan) => catalog.accountsOnPlan.get(plan.id) ?? 0;
  return {
    mode: preset.mode,
    defaultPlan: preset.defaultPlan,
    displayUnit: preset.displayUnit,
    plans: {
      create: plans.create.map((input) => ({
        slug: input.slug, name: input.name, priceCents: input.priceCents,
        includedMicros: includedMicros({ priceCents: input.priceCents, surchargeCents: input.surchargeCents ?? 0, includedMicrosOverride: (input.includedMicros ?? null) as Micros | null }),
        input,
      })),
      update: plans.update,
      unchanged: plans.unchanged,
      legacy: onSale.filter((p) => accounts(p) > 0).map((p) => ({ ...named(p), accounts: accounts(p) })),
      archive: onSale.filter((p) => accounts(p) === 0).map(named),
      untouched: plans.others.filter((p) => p.status !== 'active').map((p) => ({ ...named(p), status: p.status })),
    },
    packs: {
      create: packs.create.map((input) => ({ slug: input.slug, name: input.name, priceCents: input.priceCents, input })),
      update: packs.update,
      unchanged: packs.unchanged,
      archive: packs.others.filter((p) => p.status === 'active').map(named),
      untouched: packs.others.filter((p) => p.status !== 'active').map((p) => ({ ...named(p), status: p.status })),
    },
  };
}

/** An update's changes as the patch that makes them. */
export function patchOf<I>(update: ItemUpdate): Partial<I> {
  return Object.fromEntries(update.changes.map((c) => [c.field, c.to])) as Partial<I>;
}

const named = ({ slug, name }: Named): Named => ({ slug, name });

/**
 * The preset's items sorted against the catalog: those to create, those to update over what they
 * are (with what changes) or already as the preset says, and the catalog's items it does not name.
 */
function sortOut<I extends Named, C extends Named>(items: readonly I[], catalog: readonly C[], toInput: (current: C) => Record<string, unknown>, defaults: object) {
  const bySlug = new Map(catalog.map((c) => [c.slug, c]));
  const sorted = { create: [] as I[], update: [] as ItemUpdate[], unchanged: [] as Named[] };
  for (const item of items) {
    const current = bySlug.get(item.slug);
    if (!current) {
      sorted.create.push(item);
      continue;
    }
    const before = toInput(current);
    const changes = changed(before, { ...before, ...defaults, ...item, status: 'active' });
    if (changes.length) sorted.update.push({ ...named(item), changes });
    else sorted.unchanged.push(named(item));
  }
  const taken = new Set(items.map((i) => i.slug));
  return { ...sorted, others: catalog.filter((c) => !taken.has(c.slug)) };
}

/** What changes when `merged` (the current input with the preset's fields over it) replaces `current`. */
function changed(current: Record<string, unknown>, merged: Record<string, unknown>): FieldChange[] {
  return Object.keys(current)
    .filter((f) => canonical(current[f]) !== canonical(merged[f]))
    .map((f) => ({ field: f, from: current[f] ?? null, to: merged[f] ?? null }));
}

/** JSON with object keys sorted, so that jsonb's key order (shortest first) compares equal to a literal's. */
export function canonical(value: unknown): string {
  return JSON.stringify(value ?? null, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}
