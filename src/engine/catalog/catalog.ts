/** Admin operations on what is sold: plans, packs, settings and price-book overrides. */
import { BillingError } from '../../core/errors.ts';
import { formatCents } from '../../core/money.ts';
import { PACK_STATUSES, packInputSchema, packPatchSchema, packToInput, type Pack, type PackInput } from '../../core/pack.ts';
import { PLAN_STATUSES, planInputSchema, planPatchSchema, planToInput, type Plan, type PlanInput, type PlanStatus } from '../../core/plan.ts';
import type { PriceEntry } from '../../core/pricing/price.ts';
import { priceEntryOf, ratesInputSchema, type RatesInput } from '../../core/pricing/rates.ts';
import type { Settings, settingsInputSchema } from '../../core/settings.ts';
import { instant, modelSchema, parseInput, plain, text } from '../../core/input.ts';
import type { Sql } from '../../db/sql.ts';
import type { Context } from '../context.ts';
import { PACK_COLUMNS, PLAN_COLUMNS, SETTINGS_COLUMNS, packFromRow, planFromRow, settingsFromRow, type PackRow, type PlanRow, type SettingsRow } from '../rows.ts';
import { z } from 'zod';

export type ParsedPlan = z.output<typeof planInputSchema>;
export type PlanChanges = z.input<typeof planPatchSchema>;
export type ParsedPlanChanges = z.output<typeof planPatchSchema>;
export type ParsedPack = z.output<typeof packInputSchema>;
export type PackChanges = z.input<typeof packPatchSchema>;
export type ParsedPackChanges = z.output<typeof packPatchSchema>;
export type ParsedSettings = z.output<typeof settingsInputSchema>;

/** Which plans or packs a list takes: those of one status, or all. */
const filterSchema = <S extends string>(statuses: readonly [S, ...S[]]) => plain(z.object({ status: z.enum(statuses).optional() }).strict());
export const planFilterSchema = filterSchema(PLAN_STATUSES);
export const packFilterSchema = filterSchema(PACK_STATUSES);

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string }).code === '23505';
}

export async function listPlans(sql: Sql, filter: { status?: PlanStatus } = {}): Promise<Plan[]> {
  const rows = await sql.query<PlanRow>(
    `SELECT ${PLAN_COLUMNS} FROM plans p WHERE ($1::text IS NULL OR p.status = $1) ORDER BY p.sort, p.price_cents, p.id`,
    [filter.status ?? null],
  );
  return rows.map(planFromRow);
}

export async function findPlan(sql: Sql, slug: string): Promise<Plan> {
  const [row] = await sql.query<PlanRow>(`SELECT ${PLAN_COLUMNS} FROM plans p WHERE p.slug = $1`, [slug]);
  if (!row) throw new BillingError('plan_not_found', `No plan "${slug}": list plans to see the slugs`, { slug });
  return planFromRow(row);
}

export async function findPlanById(sql: Sql, id: number): Promise<Plan> {
  const [row] = await sql.query<PlanRow>(`SELECT ${PLAN_COLUMNS} FROM plans p WHERE p.id = $1`, [id]);
  if (!row) throw new BillingError('plan_not_found', `No plan with id ${id}`);
  return planFromRow(row);
}

function planParams(p: ParsedPlan): unknown[] {
  return [
    p.slug, p.name, p.status, p.priceCents, p.surchargeCents, p.includedMicros ?? null, JSON.stringify(p.limits),
    p.overage, p.models, JSON.stringify(p.processorPrices), p.public, p.sort,
  ];
}

export async function createPlan(sql: Sql, input: PlanInput): Promise<Plan> {
  return createPlanParsed(sql, parseInput(planInputSchema, input, 'plan'));
}

/** createPlan of a plan its schema parsed already. */
export async function createPlanParsed(sql: Sql, plan: ParsedPlan): Promise<Plan> {
  try {
    const [row] = await sql.query<{ id: number }>(
      `INSERT INTO plans (slug, name, status, price_cents, surcharge_cents, included_micros, limits, overage, models, processor_prices, public, sort)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
      planParams(plan),
    );
    return findPlanById(sql, row!.id);
  } catch (error) {
    if (isUniqueViolation(error)) throw new BillingError('slug_taken', `A plan "${plan.slug}" exists already: update it or pick another slug`, { slug: plan.slug });
    throw error;
  }
}

/** Change a plan. A change to its terms is a new version: subscribers keep the one they bought (plan-versions.ts), a free plan's accounts feel it from their next call. */
export async function updatePlan(sql: Sql, slug: string, patch: PlanChanges): Promise<Plan> {
  return updatePlanParsed(sql, slug, parseInput(planPatchSchema, patch, 'plan changes'));
}

/** updatePlan with changes their schema parsed already; the plan they make is checked as a whole. */
export async function updatePlanParsed(sql: Sql, slug: string, changes: ParsedPlanChanges): Promise<Plan> {
  const current = await findPlan(sql, slug);
  const plan = parseInput(planInputSchema, { ...planToInput(current), ...changes, slug }, 'plan');
  if (plan.priceCents > 0 && (await getSettings(sql)).defaultPlanId === current.id) {
    throw new BillingError(
      'invalid_input',
      `The plan "${slug}" is the default plan, which new accounts (and those whose paid plan ended) are on without paying: it must stay free. ` +
        'Make a free plan the default first, in the settings, then give this one a price',
      { field: 'priceCents', slug, issues: [`priceCents: must stay $0.00 while "${slug}" is the default plan, which accounts are on without paying: make a free plan the default first, in the settings`] },
    );
  }
  await sql.query(
    `UPDATE plans SET slug = $1, name = $2, status = $3, price_cents = $4, surcharge_cents = $5, included_micros = $6, limits = $7,
       overage = $8, models = $9, processor_prices = $10, public = $11, sort = $12 WHERE id = $13`,
    [...planParams(plan), current.id],
  );
  return findPlanById(sql, current.id);
}

export async function listPacks(sql: Sql, filter: { status?: 'active' | 'archived' } = {}): Promise<Pack[]> {
  const rows = await sql.query<PackRow>(
    `SELECT ${PACK_COLUMNS} FROM packs k WHERE ($1::text IS NULL OR k.status = $1) ORDER BY k.sort, k.price_cents, k.id`,
    [filter.status ?? null],
  );
  return rows.map(packFromRow);
}

export async function findPack(sql: Sql, slug: string): Promise<Pack> {
  return (await findPackVersion(sql, slug)).pack;
}

/** A pack and its current version (pack-versions.ts), read together: what a checkout opened now sells. */
export async function findPackVersion(sql: Sql, slug: string): Promise<{ pack: Pack; version: number }> {
  const [row] = await sql.query<PackRow & { version: number }>(`SELECT ${PACK_COLUMNS}, k.version FROM packs k WHERE k.slug = $1`, [slug]);
  if (!row) throw new BillingError('pack_not_found', `No pack "${slug}": list packs to see the slugs`, { slug });
  return { pack: packFromRow(row), version: row.version };
}

function packParams(p: ParsedPack): unknown[] {
  return [
    p.slug, p.name, p.status, p.priceCents, p.valueMicros ?? null, p.expiresAfterDays ?? null, p.requiresPlan,
    JSON.stringify(p.processorPrices), p.public, p.sort,
  ];
}

export async function createPack(sql: Sql, input: PackInput): Promise<Pack> {
  return createPackParsed(sql, parseInput(packInputSchema, input, 'pack'));
}

/** createPack of a pack its schema parsed already. */
export async function createPackParsed(sql: Sql, pack: ParsedPack): Promise<Pack> {
  try {
    await sql.query(
      `INSERT INTO packs (slug, name, status, price_cents, value_micros, expires_after_days, requires_plan, processor_prices, public, sort)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      packParams(pack),
    );
  } catch (error) {
    if (isUniqueViolation(error)) throw new BillingError('slug_taken', `A pack "${pack.slug}" exists already: update it or pick another slug`, { slug: pack.slug });
    throw error;
  }
  return findPack(sql, pack.slug);
}

export async function updatePack(sql: Sql, slug: string, patch: PackChanges): Promise<Pack> {
  return updatePackParsed(sql, slug, parseInput(packPatchSchema, patch, 'pack changes'));
}

/** updatePack with changes their schema parsed already; the pack they make is checked as a whole. */
export async function updatePackParsed(sql: Sql, slug: string, changes: ParsedPackChanges): Promise<Pack> {
  const current = await findPack(sql, slug);
  const pack = parseInput(packInputSchema, { ...packToInput(current), ...changes, slug }, 'pack');
  await sql.query(
    `UPDATE packs SET slug = $1, name = $2, status = $3, price_cents = $4, value_micros = $5, expires_after_days = $6, requires_plan = $7,
       processor_prices = $8, public = $9, sort = $10 WHERE id = $11`,
    [...packParams(pack), current.id],
  );
  return findPack(sql, slug);
}

export async function getSettings(sql: Sql): Promise<Settings> {
  const [row] = await sql.query<SettingsRow>(`SELECT ${SETTINGS_COLUMNS} FROM settings s`);
  return settingsFromRow(row!);
}

/** Change the settings sent (parsed by the facade: settingsInputSchema), the rest as they are. */
export async function updateSettings(sql: Sql, { pricingMode, ...patch }: ParsedSettings): Promise<Settings> {
  const current = await getSettings(sql);
  const defaultPlan = patch.defaultPlan === undefined ? undefined : await findPlan(sql, patch.defaultPlan);
  if (defaultPlan && defaultPlan.priceCents > 0) {
    throw new BillingError(
      'invalid_input',
      `The plan "${defaultPlan.slug}" has a price, and the default plan is the one new accounts (and those whose paid plan ended) are on without paying: ` +
        'its allowance would be handed out unpaid. Make a free plan (a price of $0.00) the default',
      { field: 'defaultPlan', slug: defaultPlan.slug, issues: [`defaultPlan: "${defaultPlan.slug}" costs ${formatCents(defaultPlan.priceCents)} a month, and accounts are on the default plan without paying: choose a free plan`] },
    );
  }
  const defaultPlanId = defaultPlan?.id ?? current.defaultPlanId;
  let fallbackPrice: PriceEntry | null = current.fallbackPrice;
  if (patch.fallbackRates !== undefined) {
    fallbackPrice = patch.fallbackRates === null ? null : priceEntryOf({ provider: '', model: '*', source: 'fallback', rates: patch.fallbackRates });
  }
  const policy = patch.unknownModelPolicy ?? current.unknownModelPolicy;
  if (policy === 'fallback' && !fallbackPrice) {
    throw new BillingError('invalid_input', 'Charging models the price book does not know at a fallback price needs that price: give its input and output rates ($ per 1M tokens)', {
      issues: ['fallbackRates: must be given to charge models the price book does not know the fallback price: at least its input and output rates ($ per 1M tokens)'],
    });
  }
  await sql.query(
    `UPDATE settings SET margin_bps = $1, display_unit = $2, credit_value_micros = $3, default_plan_id = $4, unknown_model_policy = $5,
       fallback_price = $6, min_hold_micros = $7, hold_ttl_seconds = $8, pricing_mode = $9,
       past_due_grace_days = $10`,
    [
      patch.marginBps ?? current.marginBps, patch.displayUnit ?? current.displayUnit, patch.creditValueMicros ?? current.creditValueMicros,
      defaultPlanId, policy, fallbackPrice ? JSON.stringify(fallbackPrice) : null, patch.minHoldMicros ?? current.minHoldMicros,
      patch.holdTtlSeconds ?? current.holdTtlSeconds, pricingMode === undefined ? current.pricingMode : pricingMode,
      patch.pastDueGraceDays ?? current.pastDueGraceDays,
    ],
  );
  if (patch.refundUsedValue !== undefined) await sql.query('UPDATE settings SET refund_used_value = $1', [patch.refundUsedValue]);
  return getSettings(sql);
}

export const modelPriceInputSchema = plain(
  z
    .object({
      provider: text(100).trim().default('').meta({ description: 'Left out or "": the model under any provider.', example: 'openai' }),
      model: modelSchema.meta({ example: 'gpt-4o-mini' }),
      effectiveFrom: instant.meta({ description: 'From when the price applies.', example: '2026-03-01T00:00:00Z' }),
      rates: ratesInputSchema,
    })
    .strict(),
);
/** A model's price as a caller gives it: rates as an admin writes them. */
export type ModelPriceInput = Omit<z.input<typeof modelPriceInputSchema>, 'rates'> & { rates: RatesInput };
export type ParsedModelPrice = z.output<typeof modelPriceInputSchema>;

/**
 * Override the price of a model from a moment on (parsed by the facade: modelPriceInputSchema).
 * Earlier usage keeps the price it was charged at.
 */
export async function setModelPrice(ctx: Context, parsed: ParsedModelPrice): Promise<PriceEntry> {
  const entry = priceEntryOf({
    provider: parsed.provider, model: parsed.model, effectiveFrom: parsed.effectiveFrom.toISOString(), source: 'override', rates: parsed.rates,
  });
  await ctx.sql.query(
    `INSERT INTO model_prices (provider, model, effective_from, price) VALUES ($1, $2, $3, $4)
     ON CONFLICT (provider, model, effective_from) DO UPDATE SET price = EXCLUDED.price`,
    [parsed.provider, parsed.model, parsed.effectiveFrom, JSON.stringify(entry)],
  );
  await ctx.prices.reload();
  return entry;
}

/** Which override: the model, the provider ("" for any) and the moment it applies from, as it was set. */
export const modelPriceKeySchema = plain(
  z
    .object({
      provider: text(100).trim().default('').meta({ description: 'As the override was set: "" for the model under any provider.', example: 'openai' }),
      model: modelSchema.meta({ example: 'gpt-4o-mini' }),
      effectiveFrom: instant.meta({ description: 'The moment the override applies from, as it was set.', example: '2026-03-01T00:00:00Z' }),
    })
    .strict(),
);
export type ModelPriceKey = z.input<typeof modelPriceKeySchema>;

/**
 * Remove an override (parsed by the facade: modelPriceKeySchema): calls from now on are priced as
 * if it had never been set (an earlier override, or the bundled price). Usage charged keeps the
 * price it was charged at.
 */
export async function removeModelPrice(ctx: Context, key: z.output<typeof modelPriceKeySchema>): Promise<{ removed: PriceEntry }> {
  const where = 'WHERE provider = $1 AND model = $2 AND effective_from = $3';
  const params = [key.provider, key.model, key.effectiveFrom];
  // Looked for first: a delete, even of nothing, moves the catalog's version (its trigger is per statement).
  const [found] = await ctx.sql.query(`SELECT 1 FROM model_prices ${where}`, params);
  const [row] = found ? await ctx.sql.query<{ price: PriceEntry }>(`DELETE FROM model_prices ${where} RETURNING price`, params) : [];
  if (!row) {
    throw new BillingError('model_price_not_found', `No override of "${key.model}"${key.provider ? ` at ${key.provider}` : ''} from ${key.effectiveFrom.toISOString()}: nothing was removed`, {
      model: key.model, provider: key.provider,
    });
  }
  await ctx.prices.reload();
  return { removed: row.price };
}
