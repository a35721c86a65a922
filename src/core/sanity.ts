/**
 * Sanity checks of the catalog: what an owner would want to hear before a customer finds it —
 * a plan or pack that loses money at the margin, a pack nobody can spend, two plans with one
 * name, a limit at odds with what a plan includes, a default plan with a price. Pure: the panel
 * shows them beside the forms and on the pricing page, the API lists them, and nothing is refused
 * for them (an owner may mean it).
 */
import { usableSources } from './bucket.ts';
import { BPS_PER_UNIT, ceilDiv, formatBps, formatCents, formatUsdRounded, MICROS_PER_CENT, type Micros } from './money.ts';
import { packInputSchema, packToInput, packValueMicros, type Pack, type PackInput } from './pack.ts';
import { includedMicros, isFree, planInputSchema, planToInput, type Limit, type Plan, type PlanInput } from './plan.ts';
import { patchOf, type PresetDiff } from './presets.ts';
import type { Settings } from './settings.ts';

/** warning: money is lost or a customer cannot get what they pay for; notice: confusing, but costs nothing. */
export type CheckSeverity = 'warning' | 'notice';

export const CHECK_CODES = [
  'plan_loses_money',
  'pack_loses_money',
  'pack_gives_less_than_price',
  'pack_not_spendable',
  'duplicate_plan_name',
  'limit_below_included',
  'limit_never_reached',
  'token_limit_below_call',
  'token_limit_below_included',
  'default_plan_not_free',
  'default_plan_off_sale',
] as const;
export type CheckCode = (typeof CHECK_CODES)[number];

export interface Check {
  severity: CheckSeverity;
  subject: { kind: 'plan' | 'pack'; slug: string };
  code: CheckCode;
  /** What is wrong and what it costs, in the owner's words and dollars. */
  message: string;
}

export interface Catalog {
  plans: readonly Plan[];
  packs: readonly Pack[];
  settings: Pick<Settings, 'marginBps' | 'defaultPlanId'>;
  /** By plan slug, what one TYPICAL_CALL on the plan is worth at the margin: how far its token limits go in dollars (engine/catalog/checks.ts). */
  callValues?: ReadonlyMap<string, CallValue>;
}

/** The call a token limit is weighed against, as the panel's figures assume one: 3,000 input and 1,000 output tokens. */
export const TYPICAL_CALL = { inputTokens: 3_000, outputTokens: 1_000 } as const;
const TYPICAL_CALL_TOKENS = TYPICAL_CALL.inputTokens + TYPICAL_CALL.outputTokens;

/** What one TYPICAL_CALL of `model` is worth at the margin. */
export interface CallValue {
  model: string;
  valueMicros: number;
}

/** Days a daily limit is counted over to compare it with a month's allowance. */
const DAYS_IN_MONTH = 30;

/** The plans an account can be on from now: active and public, and the default plan new accounts start on. */
export function plansOnSale(plans: readonly Plan[], defaultPlanId: number | null): Plan[] {
  return plans.filter((p) => p.status === 'active' && (p.public || p.id === defaultPlanId));
}

/**
 * The plans on sale whose accounts can spend this pack: packs are spent only on plans whose
 * overage is credits, and an add-on pack is sold only to accounts on a paid plan.
 */
export function plansSpending(pack: Pick<Pack, 'requiresPlan'>, onSale: readonly Plan[]): Plan[] {
  return onSale.filter((p) => usableSources(p.overage).includes('pack') && !(pack.requiresPlan && isFree(p)));
}

/** What the public pricing table offers: the active public plans, and the active public packs a plan on sale can spend. */
export function pricingTable({ plans, packs, settings }: Catalog): { plans: Plan[]; packs: Pack[] } {
  const onSale = plansOnSale(plans, settings.defaultPlanId);
  return {
    plans: plans.filter((p) => p.status === 'active' && p.public),
    packs: packs.filter((p) => p.status === 'active' && p.public && plansSpending(p, onSale).length > 0),
  };
}

/**
 * Does `valueMicros` of usage cost more in provider spend than `priceMicros` brings in? The
 * margin is the share of the usage value that is not provider cost (money.ts: value = cost /
 * (1 − margin)), so the cost of a value is value × (1 − margin): at 50%, $500 of usage costs
 * $250. It loses money when value × (10000 − marginBps) > price × 10000, compared exactly in
 * integers; exactly break-even is not a loss. Processor fees are not counted (they are not known here).
 */
export function losesMoney(valueMicros: number, priceMicros: number, marginBps: number): boolean {
  return BigInt(valueMicros) * BigInt(BPS_PER_UNIT - marginBps) > BigInt(priceMicros) * BigInt(BPS_PER_UNIT);
}

/** The provider cost of a value at the margin, rounded up: a loss is never said as $0.00. */
const costOf = (valueMicros: number, marginBps: number) => Number(ceilDiv(BigInt(valueMicros) * BigInt(BPS_PER_UNIT - marginBps), BigInt(BPS_PER_UNIT)));
const cents = formatCents;
/** Amounts as the panel shows them beside these messages: one format (money.ts formatUsdRounded). */
const usd = formatUsdRounded;
const limitName = (limit: Limit) => (limit.window === 'day' ? 'daily' : 'monthly');
/** A cost above a price, said so even where both round to one amount: "just over $10.00". */
const costAbove = (costMicros: number, priceMicros: number) => (usd(costMicros) === usd(priceMicros) ? `just over ${usd(costMicros)}` : usd(costMicros));

/** Every check that fails for the catalog, plans first, in the catalog's order. */
export function sanityChecks({ plans, packs, settings, callValues }: Catalog): Check[] {
  const checks: Check[] = [];
  const onSale = plansOnSale(plans, settings.defaultPlanId);
  const margin = settings.marginBps;
  const live = plans.filter((p) => p.status !== 'archived');

  for (const plan of live) {
    const add = (severity: CheckSeverity, code: CheckCode, message: string) => checks.push({ severity, subject: { kind: 'plan', slug: plan.slug }, code, message });
    const included = includedMicros(plan);
    const usdLimits = plan.limits.filter((l) => l.unit === 'usd');
    const monthCap = Math.min(included, ...usdLimits.filter((l) => l.window === 'month').map((l) => l.amount));
    const name = `“${plan.name}”`;

    // A free plan gives its usage away by design; a paid one should pay for what it includes.
    if (!isFree(plan) && losesMoney(monthCap, plan.priceCents * MICROS_PER_CENT, margin)) {
      const cost = costOf(monthCap, margin);
      add('warning', 'plan_loses_money',
        `${name} costs ${cents(plan.priceCents)} a month and lets a subscriber use ${usd(monthCap)} of usage, which costs you ${costAbove(cost, plan.priceCents * MICROS_PER_CENT)} ` +
        `at the ${formatBps(margin)} margin: each subscriber who uses it all loses you ${usd(cost - plan.priceCents * MICROS_PER_CENT)} a month.`);
    }

    if (plan.status === 'active') {
      const twins = live.filter((p) => p !== plan && p.status === 'active' && p.name.trim().toLowerCase() === plan.name.trim().toLowerCase());
      if (twins.length > 0) {
        add('notice', 'duplicate_plan_name', `${name} is also the name of the active plan${twins.length > 1 ? 's' : ''} ${twins.map((p) => p.slug).join(', ')}: customers cannot tell them apart.`);
      }
    }

    for (const limit of usdLimits) {
      const reach = limit.window === 'day' ? limit.amount * DAYS_IN_MONTH : limit.amount;
      const what = `${name}'s ${limitName(limit)} limit of ${usd(limit.amount)}`;
      if (reach < included) {
        const most = limit.window === 'day' ? ` lets a subscriber use at most ${usd(reach)} in a ${DAYS_IN_MONTH}-day month, which` : '';
        add('warning', 'limit_below_included',
          `${what}${most} is below the ${usd(included)} it includes: ${usd(included - reach)} of it can never be used.`);
      } else if (plan.overage === 'block' && limit.amount > included) {
        add('notice', 'limit_never_reached',
          `${what} is above the ${usd(included)} it includes, and its usage stops there (it does not spend credit packs): the limit never applies, though the pricing table shows it.`);
      }
    }

    // A token limit counts input and output tokens, and the gate weighs a call at its input and its most output before it starts.
    const call = callValues?.get(plan.slug);
    for (const limit of plan.limits.filter((l) => l.unit === 'tokens')) {
      const what = `${name}'s ${limitName(limit)} limit of ${limit.amount.toLocaleString('en-US')} tokens`;
      const typical = `${TYPICAL_CALL.inputTokens.toLocaleString('en-US')} input and ${TYPICAL_CALL.outputTokens.toLocaleString('en-US')} output tokens`;
      if (limit.amount < TYPICAL_CALL_TOKENS) {
        add('warning', 'token_limit_below_call', `${what} is less than one call of ${typical}: every such call is refused, whatever the plan includes.`);
        continue;
      }
      if (!call) continue;
      const calls = Math.floor((limit.window === 'day' ? limit.amount * DAYS_IN_MONTH : limit.amount) / TYPICAL_CALL_TOKENS);
      const reach = calls * call.valueMicros;
      if (reach < included) {
        const month = limit.window === 'day' ? ` in a ${DAYS_IN_MONTH}-day month` : ' a month';
        add('notice', 'token_limit_below_included',
          `${what} lets a subscriber make ${calls.toLocaleString('en-US')} calls of ${typical} of ${call.model}${month}, worth ${usd(reach)}: ` +
            `${usd(included - reach)} of the ${usd(included)} it includes can never be used in such calls.`);
      }
    }

    if (plan.id === settings.defaultPlanId && !isFree(plan)) {
      add('warning', 'default_plan_not_free',
        `${name} is the default plan, which new accounts are on without paying, yet it costs ${cents(plan.priceCents)} a month: its ${usd(included)} of usage is given away. Make a free plan the default.`);
    }
  }

  // The plan every new account starts on, and a canceled plan falls back to, should be one on sale.
  const fallback = plans.find((p) => p.id === settings.defaultPlanId);
  if (fallback && fallback.status !== 'active') {
    checks.push({
      severity: 'warning', subject: { kind: 'plan', slug: fallback.slug }, code: 'default_plan_off_sale',
      message: `“${fallback.name}” is the default plan, which every new account starts on and every canceled plan falls back to, yet it is ` +
        `${fallback.status === 'archived' ? 'archived' : 'legacy (kept for its subscribers, off sale)'}: make a plan on sale the default in Settings.`,
    });
  }

  for (const pack of packs.filter((p) => p.status === 'active')) {
    const add = (code: CheckCode, message: string) => checks.push({ severity: 'warning', subject: { kind: 'pack', slug: pack.slug }, code, message });
    const value = packValueMicros(pack);
    const price = pack.priceCents * MICROS_PER_CENT;
    const name = `The pack “${pack.name}”`;
    if (losesMoney(value, price, margin)) {
      const cost = costOf(value, margin);
      add('pack_loses_money',
        `${name} sells for ${cents(pack.priceCents)} and gives ${usd(value)} of usage, which costs you ${costAbove(cost, price)} at the ${formatBps(margin)} margin: each one used up loses you ${usd(cost - price)}.`);
    }
    if (value < price) {
      add('pack_gives_less_than_price', `${name} sells for ${cents(pack.priceCents)} but gives only ${usd(value)} of usage: a buyer pays ${usd(price - value)} for nothing.`);
    }
    if (plansSpending(pack, onSale).length === 0) {
      const which = pack.requiresPlan ? 'no paid plan on sale spends credit packs, and it is sold only as an add-on to one' : 'no plan on sale spends credit packs';
      add('pack_not_spendable',
        `${name} could be paid for and never used: ${which}. It is left out of the pricing table: let a plan on sale spend credit packs (its overage), or archive the pack.`);
    }
  }
  return checks;
}

/**
 * The checks as a list shows them, each problem once: plans sharing a name are one problem, said
 * on the first of them (its message names the others), where each plan's form says it of itself.
 */
export function eachProblemOnce(checks: readonly Check[], plans: readonly Pick<Plan, 'slug' | 'name'>[]): Check[] {
  const nameOf = new Map(plans.map((p) => [p.slug, p.name.trim().toLowerCase()]));
  const named = new Set<string>();
  return checks.filter((c) => {
    if (c.code !== 'duplicate_plan_name') return true;
    const name = nameOf.get(c.subject.slug) ?? `slug:${c.subject.slug}`; // a plan not listed (a preset's new one) is its own
    if (named.has(name)) return false;
    named.add(name);
    return true;
  });
}

/** The checks of `after` that `before` did not have, and every one about `about` (new or not). */
export function checksRaised(before: Catalog, after: Catalog, about?: Check['subject']): Check[] {
  const key = (c: Check) => `${c.subject.kind}:${c.subject.slug}:${c.code}`;
  const had = new Set(sanityChecks(before).map(key));
  const isAbout = (c: Check) => about !== undefined && c.subject.kind === about.kind && c.subject.slug === about.slug;
  return sanityChecks(after).filter((c) => isAbout(c) || !had.has(key(c)));
}

/**
 * What a form's plan or pack would leave for the owner to hear before saving it: the checks of
 * the catalog with `candidate` in place of the item of its slug (or added), those about it and
 * those it would raise about others (a plan that stops spending packs leaves a pack unspendable).
 */
export function checksOfChange(catalog: Catalog, candidate: { kind: 'plan'; item: Plan } | { kind: 'pack'; item: Pack }): Check[] {
  const put = <T extends { slug: string }>(list: readonly T[], item: T) =>
    list.some((x) => x.slug === item.slug) ? list.map((x) => (x.slug === item.slug ? item : x)) : [...list, item];
  const after = candidate.kind === 'plan' ? { ...catalog, plans: put(catalog.plans, candidate.item) } : { ...catalog, packs: put(catalog.packs, candidate.item) };
  return checksRaised(catalog, after, { kind: candidate.kind, slug: candidate.item.slug });
}

/** A plan as its input makes it, under the id `id`. */
function planOf(input: PlanInput, id: number): Plan {
  const { includedMicros: included, ...plan } = planInputSchema.parse(input);
  return { ...plan, id, includedMicrosOverride: (included ?? null) as Micros | null };
}

/** A pack as its input makes it, under the id `id`. */
function packOf(input: PackInput, id: number): Pack {
  const { valueMicros, ...pack } = packInputSchema.parse(input);
  return { ...pack, id, valueMicrosOverride: (valueMicros ?? null) as Micros | null, expiresAfterDays: pack.expiresAfterDays ?? null };
}

/**
 * What applying a preset would leave for the owner to hear, before it is applied: the checks of
 * the catalog as its diff (core/presets.ts) leaves it — plans and packs created or given new
 * terms, taken off sale, its default plan — that the catalog has not now.
 */
export function checksOfPreset(catalog: Catalog, diff: PresetDiff): Check[] {
  const planUpdates = new Map(diff.plans.update.map((u) => [u.slug, u]));
  const packUpdates = new Map(diff.packs.update.map((u) => [u.slug, u]));
  const offSale = new Map<string, Plan['status']>([...diff.plans.legacy.map((p) => [p.slug, 'legacy'] as const), ...diff.plans.archive.map((p) => [p.slug, 'archived'] as const)]);
  const archived = new Set(diff.packs.archive.map((p) => p.slug));
  // Items it creates have no id yet: negative ones cannot meet a stored one.
  let created = 0;
  const plans = [
    ...catalog.plans.map((p) => {
      const update = planUpdates.get(p.slug);
      if (update) return planOf({ ...planToInput(p), ...patchOf<PlanInput>(update) }, p.id);
      const status = offSale.get(p.slug);
      return status ? { ...p, status } : p;
    }),
    ...diff.plans.create.map((c) => planOf(c.input, --created)),
  ];
  const packs = [
    ...catalog.packs.map((p) => {
      const update = packUpdates.get(p.slug);
      if (update) return packOf({ ...packToInput(p), ...patchOf<PackInput>(update) }, p.id);
      return archived.has(p.slug) ? { ...p, status: 'archived' as const } : p;
    }),
    ...diff.packs.create.map((c) => packOf(c.input, --created)),
  ];
  const defaultPlanId = plans.find((p) => p.slug === diff.defaultPlan)?.id ?? catalog.settings.defaultPlanId;
  return checksRaised(catalog, { ...catalog, plans, packs, settings: { ...catalog.settings, defaultPlanId } });
}
