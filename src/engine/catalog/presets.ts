/**
 * Applying a preset: its plans and packs become the ones on sale and its free tier the
 * default. Plans it does not name are kept as `legacy` for the accounts on them (or
 * archived when nobody is), packs it does not name stop being sold. Nobody's purchased
 * credit is touched.
 */
import { z } from 'zod';
import { PRESETS } from '../../core/presets.ts';
import { PRICING_MODES, type PricingMode, type Settings } from '../../core/settings.ts';
import { parseInput } from '../../core/input.ts';
import { createPack, createPlan, getSettings, listPacks, listPlans, updatePack, updatePlan } from './catalog.ts';
import type { Context } from '../context.ts';

export async function applyPreset(ctx: Context, mode: PricingMode): Promise<Settings> {
  const preset = PRESETS[parseInput(z.enum(PRICING_MODES), mode, 'pricing mode')];
  return ctx.sql.transaction(async (tx) => {
    const plans = new Map((await listPlans(tx)).map((p) => [p.slug, p]));
    const packs = new Map((await listPacks(tx)).map((p) => [p.slug, p]));
    // The preset's default plan first, made the default at once: a plan the preset gives a price is then never the default.
    const isDefault = (plan: { slug: string }) => Number(plan.slug === preset.defaultPlan);
    for (const plan of [...preset.plans].sort((a, b) => isDefault(b) - isDefault(a))) {
      if (plans.has(plan.slug)) await updatePlan(tx, plan.slug, { ...plan, status: 'active' });
      else await createPlan(tx, plan);
      if (isDefault(plan)) await tx.query('UPDATE settings SET default_plan_id = (SELECT id FROM plans WHERE slug = $1)', [plan.slug]);
    }
    for (const pack of preset.packs) {
      if (packs.has(pack.slug)) await updatePack(tx, pack.slug, { ...pack, status: 'active' });
      else await createPack(tx, pack);
    }
    const keep = new Set(preset.plans.map((p) => p.slug));
    await tx.query(
      `UPDATE plans p SET status = CASE WHEN EXISTS (SELECT 1 FROM accounts a WHERE a.plan_id = p.id) THEN 'legacy' ELSE 'archived' END
       WHERE p.status = 'active' AND NOT (p.slug = ANY ($1::text[]))`,
      [[...keep]],
    );
    await tx.query(`UPDATE packs SET status = 'archived' WHERE status = 'active' AND NOT (slug = ANY ($1::text[]))`, [preset.packs.map((p) => p.slug)]);
    await tx.query(
      `UPDATE settings SET default_plan_id = (SELECT id FROM plans WHERE slug = $1), pricing_mode = $2, display_unit = $3`,
      [preset.defaultPlan, preset.mode, preset.displayUnit],
    );
    return getSettings(tx);
  });
}
