/**
 * The four pricing modes as starting points. Each is plain data the admin can edit after
 * applying it. Every mode has a tight free tier so a new account can try the product:
 * in credit-packs it is the pay-as-you-go plan (purchased credit must always be usable),
 * in the subscription modes a Free plan with cheap models only and a daily cap.
 */
import type { PackInput } from './pack.ts';
import type { PlanInput } from './plan.ts';
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
