/**
 * The catalog's sanity checks (core/sanity.ts) as it stands: every plan and pack at the current
 * settings, and for a plan with a token limit what a typical call on it is worth at the margin,
 * priced by the price book as the gate prices it, so that a limit's tokens can be said in dollars.
 */
import { valueFromCost } from '../../core/money.ts';
import { modelAllowed, type Plan } from '../../core/plan.ts';
import { costOf } from '../../core/pricing/cost.ts';
import { checksOfPreset, eachProblemOnce, sanityChecks, TYPICAL_CALL, type CallValue, type Catalog, type Check } from '../../core/sanity.ts';
import type { PricingMode, Settings } from '../../core/settings.ts';
import type { Context } from '../context.ts';
import { getSettings, listPacks, listPlans } from './catalog.ts';
import { readPresetDiff } from './presets.ts';

/** The model a token limit is said in when the plan's allow-list names none outright: the panel's sample model. */
const REFERENCE_MODEL = 'gpt-4o-mini';

/** Every plan and pack, and the settings (all of them: a Catalog and more). */
export async function readCatalog(ctx: Context): Promise<Catalog & { settings: Settings }> {
  const [plans, packs, settings] = await Promise.all([listPlans(ctx.sql), listPacks(ctx.sql), getSettings(ctx.sql)]);
  return { plans, packs, settings, callValues: await callValues(ctx, plans, settings) };
}

/** What is wrong with the catalog, as the pricing page and the API list it: each problem once. */
export async function catalogChecks(ctx: Context): Promise<Check[]> {
  const catalog = await readCatalog(ctx);
  return eachProblemOnce(sanityChecks(catalog), catalog.plans);
}

/** The checks applying the preset `mode` would raise (core/sanity.ts checksOfPreset), on the diff applying it would make now. */
export async function presetChecks(ctx: Context, mode: PricingMode): Promise<Check[]> {
  const [catalog, diff] = await Promise.all([readCatalog(ctx), readPresetDiff(ctx.sql, mode)]);
  return eachProblemOnce(checksOfPreset(catalog, diff), catalog.plans);
}

/**
 * By plan slug, what one TYPICAL_CALL is worth at the margin on each plan not archived (a form
 * may give any of them a token limit): of the first model its allow-list names outright, else of
 * REFERENCE_MODEL when the plan allows it; a plan with neither, or whose model has no price, is
 * left out (a token limit of it is not said in dollars).
 */
async function callValues(ctx: Context, plans: readonly Plan[], settings: Settings): Promise<Map<string, CallValue>> {
  const limited = plans.filter((p) => p.status !== 'archived');
  const [row] = await ctx.sql.query<{ catalog_version: number }>('SELECT catalog_version FROM settings');
  const book = await ctx.prices.atLeast(row?.catalog_version ?? 0);
  const now = ctx.clock();
  const values = new Map<string, CallValue>();
  for (const plan of limited) {
    const model = plan.models.find((m) => !m.includes('*')) ?? (modelAllowed(plan, REFERENCE_MODEL) ? REFERENCE_MODEL : undefined);
    const price = model === undefined ? undefined : book.find(model, undefined, now, settings);
    if (model && price) values.set(plan.slug, { model, valueMicros: valueFromCost(costOf(price, TYPICAL_CALL).costPicos, settings.marginBps) });
  }
  return values;
}
