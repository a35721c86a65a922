/**
 * A plan is what an account is on: a monthly price, the usage value it includes, its limits,
 * whether usage may spill into prepaid credit (overage) and which models it allows.
 */
import { z } from 'zod';
import { cents, grantMicros, int4, micros, modelSchema, patchOf, plain, slugSchema, text } from './input.ts';
import { centsToMicros, formatCents, type Micros } from './money.ts';

export const PLAN_STATUSES = ['active', 'legacy', 'archived'] as const;
export type PlanStatus = (typeof PLAN_STATUSES)[number];

/** A limit's fields: its window, its unit and how much of it. */
export const limitShape = {
  window: z.enum(['day', 'month']),
  unit: z.enum(['usd', 'tokens']),
  amount: micros.meta({ description: 'usd: micro-dollars of usage value; tokens: input + output tokens.' }),
};
export const limitSchema = plain(z.object(limitShape).strict()).meta({ id: 'Limit' });
export type Limit = z.infer<typeof limitSchema>;

/** What a processor calls each plan or pack (its price ids), by processor. */
export const processorPricesSchema = plain(z.record(text(100).min(1, 'must name a processor'), text(200)).refine((m) => Object.keys(m).length <= 20, 'at most 20 processors'))
  .meta({ description: 'What each processor calls it (its price id), by processor: at most 20.' });

/** What makes a plan besides its slug, which is for good: each field's default is a new plan's. */
const planFields = {
  name: text(100).trim().min(1, 'must not be empty'),
  status: z.enum(PLAN_STATUSES).default('active'),
  priceCents: cents.meta({ description: 'The monthly price, in cents.', example: 2000 }),
  surchargeCents: cents.default(0).meta({ description: 'The part of the price that is not usage.' }),
  includedMicros: grantMicros.nullable().optional().meta({ description: 'Usage value included each period; null or left out: price − surcharge.' }),
  limits: z.array(limitSchema).max(8).default([]),
  overage: z.enum(['block', 'credits']).default('block').meta({ description: 'credits: usage beyond the allowance draws on credit packs; block: it is refused.' }),
  models: z.array(modelSchema).max(100).default([]).meta({ description: 'Model patterns allowed ("gpt-4o-mini", "claude-*"); empty allows every model.' }),
  processorPrices: processorPricesSchema.default({}),
  public: z.boolean().default(true).meta({ description: 'Shown in the pricing table.' }),
  sort: int4.default(0),
};

export const planInputSchema = plain(
  z
    .object({ slug: slugSchema.meta({ example: 'plus' }), ...planFields })
    .strict()
    .superRefine((p, ctx) => {
      if (p.surchargeCents <= p.priceCents) return;
      ctx.addIssue({
        code: 'custom', path: ['surchargeCents'],
        message: `${formatCents(p.surchargeCents)} is more than the price, ${formatCents(p.priceCents)}: the surcharge is the part of the price that is not usage, so it must not exceed the price`,
      });
    }),
);
/** A change to a plan: the fields to change; the plan it makes is checked as a whole (planInputSchema). */
export const planPatchSchema = patchOf(planFields);
export type PlanInput = z.input<typeof planInputSchema>;

export interface Plan {
  id: number;
  slug: string;
  name: string;
  status: PlanStatus;
  priceCents: number;
  surchargeCents: number;
  /** Explicit included value, or null when it follows price − surcharge. */
  includedMicrosOverride: Micros | null;
  limits: Limit[];
  overage: 'block' | 'credits';
  models: string[];
  processorPrices: Record<string, string>;
  public: boolean;
  sort: number;
}

/** The input that makes a plan as it is: what a change is merged over, every field present. */
export function planToInput(plan: Plan): Required<PlanInput> {
  return {
    slug: plan.slug, name: plan.name, status: plan.status, priceCents: plan.priceCents, surchargeCents: plan.surchargeCents,
    includedMicros: plan.includedMicrosOverride, limits: plan.limits, overage: plan.overage, models: plan.models,
    processorPrices: plan.processorPrices, public: plan.public, sort: plan.sort,
  };
}

/** Usage value a plan grants each period: explicit, or price − surcharge (a $20 plan with a $10 surcharge includes $10). */
export function includedMicros(plan: Pick<Plan, 'priceCents' | 'surchargeCents' | 'includedMicrosOverride'>): Micros {
  return plan.includedMicrosOverride ?? centsToMicros(plan.priceCents - plan.surchargeCents);
}

export function isFree(plan: Pick<Plan, 'priceCents'>): boolean {
  return plan.priceCents === 0;
}

function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 'i');
}

/** A model is allowed when the list is empty or a pattern matches its id or "provider/id". */
export function modelAllowed(plan: Pick<Plan, 'models'>, model: string, provider?: string): boolean {
  if (plan.models.length === 0) return true;
  const names = provider ? [model, `${provider}/${model}`] : [model];
  return plan.models.some((pattern) => {
    const re = patternToRegExp(pattern);
    return names.some((name) => re.test(name));
  });
}
