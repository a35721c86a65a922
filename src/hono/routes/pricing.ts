/**
 * The public pricing table, which needs no key: the active public plans and packs (those a plan
 * on sale can spend), by their sort order, and what each includes. What is paid is in dollars;
 * usage value (an allowance, a limit, a pack's value) is in the display unit the settings
 * choose, dollars or credits, with what a credit is worth.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { formatUsdRounded, MICROS_PER_CENT, MICROS_PER_DOLLAR } from '../../core/money.ts';
import { packValueMicros, type Pack } from '../../core/pack.ts';
import { includedMicros, isFree, type Limit, type Plan } from '../../core/plan.ts';
import { pricingTable } from '../../core/sanity.ts';
import type { Settings } from '../../core/settings.ts';
import type { Api } from '../api.ts';
import { json, Micros, orNull, publicErrorResponses } from '../schemas.ts';

const AmountSchema = z
  .strictObject({
    micros: Micros.openapi({ description: 'In micro-dollars (1e-6 USD).' }),
    amount: z.number().openapi({ description: 'In the display unit: dollars, or credits.' }),
    display: z.string().openapi({ description: 'As a person reads it: "$0.50" or "50 credits".' }),
  })
  .openapi('Amount', { description: 'Usage value, in the display unit.' });

const PriceSchema = z
  .strictObject({ cents: z.number().int(), display: z.string().openapi({ example: '$20.00' }) })
  .openapi('Price', { description: 'What is paid, in dollars.' });

const PricingLimitSchema = z
  .strictObject({
    window: z.enum(['day', 'month']),
    unit: z.enum(['usd', 'tokens']).openapi({ description: 'usd: a limit on usage value; tokens: on input + output tokens.' }),
    value: orNull(AmountSchema),
    tokens: z.number().int().nullable(),
    display: z.string().openapi({ example: '$0.10 a day' }),
  })
  .openapi('PricingLimit', { description: 'A limit: for a usd limit its value in the display unit, for a tokens limit its tokens.' });

const PricingPlanSchema = z
  .strictObject({
    slug: z.string(),
    name: z.string(),
    price: PriceSchema,
    free: z.boolean(),
    default: z.boolean().openapi({ description: 'The plan a new account is on.' }),
    included: AmountSchema,
    limits: z.array(PricingLimitSchema),
    overage: z.enum(['block', 'credits']).openapi({ description: 'credits: usage beyond what is included draws on credit packs; block: it stops there.' }),
    models: z.array(z.string()).openapi({ description: 'Model patterns allowed ("claude-*"); empty: every model.' }),
  })
  .openapi('PricingPlan', { description: 'A plan: its price a month, and the usage value it includes each month.' });

const PricingPackSchema = z
  .strictObject({
    slug: z.string(),
    name: z.string(),
    price: PriceSchema,
    value: AmountSchema,
    bonus: AmountSchema,
    expiresAfterDays: z.number().int().nullable().openapi({ description: 'Days the value lasts from the purchase; null: it never expires.' }),
    addOn: z.boolean().openapi({ description: 'Sold only with a paid plan.' }),
  })
  .openapi('PricingPack', { description: 'A credit pack: its price, the usage value it adds, and the bonus (the part of the value beyond the price).' });

const PricingSchema = z
  .strictObject({
    unit: z.enum(['usd', 'credits']).openapi({ description: 'The display unit of usage value.' }),
    credit: z
      .strictObject({ micros: Micros, display: z.string().openapi({ example: '$0.01' }) })
      .nullable()
      .openapi({ description: 'What one credit is worth, when the unit is credits.' }),
    plans: z.array(PricingPlanSchema),
    packs: z.array(PricingPackSchema),
  })
  .openapi('Pricing');
export type Pricing = z.infer<typeof PricingSchema>;

/** Usage value in the display unit. */
function amountIn(settings: Settings, micros: number) {
  if (settings.displayUnit === 'usd') return { micros, amount: micros / MICROS_PER_DOLLAR, display: formatUsdRounded(micros) };
  const credits = micros / settings.creditValueMicros;
  const shown = credits.toLocaleString('en-US', { maximumFractionDigits: 2 });
  return { micros, amount: credits, display: `${shown} ${shown === '1' ? 'credit' : 'credits'}` };
}

const priceOf = (cents: number) => ({ cents, display: formatUsdRounded(cents * MICROS_PER_CENT) });

function limitOf(settings: Settings, limit: Limit) {
  const per = limit.window === 'day' ? 'a day' : 'a month';
  if (limit.unit === 'tokens') {
    return { window: limit.window, unit: limit.unit, value: null, tokens: limit.amount, display: `${limit.amount.toLocaleString('en-US')} tokens ${per}` };
  }
  const value = amountIn(settings, limit.amount);
  return { window: limit.window, unit: limit.unit, value, tokens: null, display: `${value.display} ${per}` };
}

function planOf(settings: Settings, plan: Plan) {
  return {
    slug: plan.slug, name: plan.name, price: priceOf(plan.priceCents), free: isFree(plan), default: plan.id === settings.defaultPlanId,
    included: amountIn(settings, includedMicros(plan)), limits: plan.limits.map((limit) => limitOf(settings, limit)),
    overage: plan.overage, models: plan.models,
  };
}

function packOf(settings: Settings, pack: Pack) {
  const value = packValueMicros(pack);
  return {
    slug: pack.slug, name: pack.name, price: priceOf(pack.priceCents), value: amountIn(settings, value),
    bonus: amountIn(settings, Math.max(0, value - pack.priceCents * MICROS_PER_CENT)), expiresAfterDays: pack.expiresAfterDays, addOn: pack.requiresPlan,
  };
}

/** The pricing table as /v1/pricing answers it, which the admin panel also shows as customers would see it. */
export async function readPricing(billing: Billing): Promise<Pricing> {
  const catalog = await billing.admin.catalog();
  const { settings } = catalog;
  // A pack no plan on sale can spend would be paid for and never used: it is not offered.
  const { plans, packs } = pricingTable(catalog);
  return {
    unit: settings.displayUnit,
    credit: settings.displayUnit === 'credits' ? { micros: settings.creditValueMicros, display: formatUsdRounded(settings.creditValueMicros) } : null,
    plans: plans.map((p) => planOf(settings, p)),
    packs: packs.map((p) => packOf(settings, p)),
  };
}

export function registerPricing(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'get', path: '/pricing', tags: ['Pricing'],
      summary: 'The pricing table: the plans and packs on sale and what each includes (no key needed)',
      responses: { 200: json(PricingSchema, 'The plans and packs on sale, by their sort order.'), ...publicErrorResponses },
    }),
    async (c) => c.json(await readPricing(billing), 200),
  );
}
