/**
 * Applying a preset: its plans and packs become the ones on sale and its free tier the
 * default. Plans it does not name are kept as `legacy` for the accounts on them (or
 * archived when nobody is), packs it does not name stop being sold. Nobody's purchased
 * credit is touched. What it does is the preset's diff against the catalog (core/presets.ts),
 * the same the admin panel previews: applying writes that diff and nothing else. A plan it gives
 * new terms is a new version: its subscribers keep theirs, or move to it at their renewal.
 */
import { z } from 'zod';
import { patchOf, presetDiff, PRESETS, type PresetDiff } from '../../core/presets.ts';
import { PRICING_MODES, type PricingMode, type Settings } from '../../core/settings.ts';
import { parseInput, plain } from '../../core/input.ts';
import type { PackInput } from '../../core/pack.ts';
import type { PlanInput } from '../../core/plan.ts';
import type { Sql } from '../../db/sql.ts';
import { createPack, createPlan, getSettings, listPacks, listPlans, updatePack, updatePlan } from './catalog.ts';
import type { Context } from '../context.ts';
import { changesTerms, moveToCurrentVersion } from './plan-versions.ts';

/**
 * The preset `mode` against the catalog as `sql` reads it. With `lock`, in a transaction, the
 * plans and packs read stay as read until it ends: a change made meanwhile waits for it.
 */
export async function readPresetDiff(sql: Sql, mode: PricingMode, { lock = false } = {}): Promise<PresetDiff> {
  const preset = PRESETS[parseInput(z.enum(PRICING_MODES), mode, 'pricing mode')];
  if (lock) {
    // One preset at a time: on a catalog with no plans yet there is no row to lock, and two presets
    // applied at once (two servers' first start) would both create the same plans. (Not the
    // settings row: a plan's write updates it after the plan's row, and this locks plans next.)
    if (sql.engine === 'postgres') await sql.query(`SELECT pg_advisory_xact_lock(hashtext('tollgate:preset'))`);
    await sql.query('SELECT 1 FROM plans ORDER BY id FOR NO KEY UPDATE');
    await sql.query('SELECT 1 FROM packs ORDER BY id FOR NO KEY UPDATE');
  }
  const accounts = await sql.query<{ plan_id: number; accounts: number }>('SELECT plan_id, count(*)::bigint AS accounts FROM accounts GROUP BY plan_id');
  return presetDiff(preset, {
    plans: await listPlans(sql),
    packs: await listPacks(sql),
    accountsOnPlan: new Map(accounts.map((r) => [r.plan_id, Number(r.accounts)])),
  });
}

/** What becomes of the subscribers of a plan a preset gives new terms: they keep the version they bought, or move to the new one at their renewal. */
export const PRESET_SUBSCRIBERS = ['keep', 'renewal'] as const;
export type PresetSubscribers = (typeof PRESET_SUBSCRIBERS)[number];

/** How a pricing mode is applied, as the library, the API and the admin panel take it. */
export const presetOptionsSchema = plain(
  z
    .object({
      subscribers: z.enum(PRESET_SUBSCRIBERS, { error: 'must be "keep" or "renewal"' }).default('keep').meta({
        description: 'keep: the subscribers of a plan the mode gives new terms keep the version they bought; renewal: each moves to the new version at its renewal (at Stripe or Paddle its price there changes now, with nothing billed).',
      }),
    })
    .strict(),
);

export async function applyPreset(ctx: Context, mode: PricingMode, { subscribers = 'keep' }: { subscribers?: PresetSubscribers } = {}): Promise<Settings> {
  const applied = await writePreset(ctx, mode);
  // Each subscriber's move in a transaction of its own, after: at a processor it changes the price there (plan-versions.ts).
  if (subscribers === 'renewal') for (const slug of applied.changed) await moveToCurrentVersion(ctx, slug, { when: 'renewal' });
  return applied.settings;
}

async function writePreset(ctx: Context, mode: PricingMode): Promise<{ settings: Settings; changed: string[] }> {
  return ctx.sql.transaction(async (tx) => {
    const diff = await readPresetDiff(tx, mode, { lock: true });
    const { plans, packs } = diff;
    // The preset's default plan first, made the default at once: a plan the preset gives a price is then never the default.
    const isDefault = (plan: { slug: string }) => plan.slug === diff.defaultPlan;
    for (const first of [true, false]) {
      for (const plan of plans.create) if (isDefault(plan) === first) await createPlan(tx, plan.input);
      for (const plan of plans.update) if (isDefault(plan) === first) await updatePlan(tx, plan.slug, patchOf<PlanInput>(plan));
      if (first) await tx.query('UPDATE settings SET default_plan_id = (SELECT id FROM plans WHERE slug = $1)', [diff.defaultPlan]);
    }
    for (const pack of packs.create) await createPack(tx, pack.input);
    for (const pack of packs.update) await updatePack(tx, pack.slug, patchOf<PackInput>(pack));
    // Legacy or archived as the write finds the plan: an account that came onto it since the diff was read keeps it legacy.
    const offSale = [...plans.legacy, ...plans.archive].map((p) => p.slug);
    if (offSale.length) {
      await tx.query(
        `UPDATE plans p SET status = CASE WHEN EXISTS (SELECT 1 FROM accounts a WHERE a.plan_id = p.id) THEN 'legacy' ELSE 'archived' END
         WHERE p.slug = ANY ($1::text[])`,
        [offSale],
      );
    }
    if (packs.archive.length) await tx.query(`UPDATE packs SET status = 'archived' WHERE slug = ANY ($1::text[])`, [packs.archive.map((p) => p.slug)]);
    await tx.query(
      `UPDATE settings SET default_plan_id = (SELECT id FROM plans WHERE slug = $1), pricing_mode = $2, display_unit = $3`,
      [diff.defaultPlan, diff.mode, diff.displayUnit],
    );
    return { settings: await getSettings(tx), changed: plans.update.filter((p) => changesTerms(p.changes)).map((p) => p.slug) };
  });
}
