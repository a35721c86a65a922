/** The one row of admin settings that shape pricing for every account. */
import { z } from 'zod';
import { micros, plain, slugSchema } from './input.ts';
import { formatBps, type Micros } from './money.ts';
import type { PriceEntry } from './pricing/price.ts';
import { ratesInputSchema, type RatesInput } from './pricing/rates.ts';

export const PRICING_MODES = ['usage-subscription', 'credit-packs', 'subscription-plus-packs', 'tiers'] as const;
export type PricingMode = (typeof PRICING_MODES)[number];

export interface Settings {
  /** Share of the usage value that is margin, in basis points: 5000 = 50%, so $10 of cost sells as $20. */
  marginBps: number;
  displayUnit: 'usd' | 'credits';
  /** What one display credit is worth. */
  creditValueMicros: Micros;
  defaultPlanId: number | null;
  unknownModelPolicy: 'refuse' | 'fallback';
  /** Rates charged for a model the price book does not know, when the policy is fallback. */
  fallbackPrice: PriceEntry | null;
  /** Hold placed when the caller cannot say how large a call will be. */
  minHoldMicros: Micros;
  /** A hold left open this long lapses (its caller is presumed dead). */
  holdTtlSeconds: number;
  pricingMode: PricingMode | null;
  /** What becomes of value already used of a refunded pack: owed by the account (debt), or written off. */
  refundUsedValue: 'debt' | 'write_off';
  /** Days a past-due account keeps the default plan's terms before the gate refuses it (0: refused at once). */
  pastDueGraceDays: number;
}

export const settingsInputSchema = plain(
  z
    .object({
      marginBps: z
        .number({ error: 'must be a number of basis points' })
        .int('must be whole basis points (5000 = 50%)')
        .min(0, 'must not be negative')
        .max(9999, { error: (issue) => `${formatBps(issue.input as number)} is too high: a margin must be below 100% (99.99% at most), for at 100% no price covers the cost` })
        .meta({ description: 'Share of the usage value that is margin, in basis points: 5000 = 50%, so $10 of cost sells as $20.', example: 5000 }),
      displayUnit: z.enum(['usd', 'credits']).meta({ description: 'How amounts are shown: dollars, or credits.' }),
      creditValueMicros: micros.positive('must be more than $0.00').meta({ description: 'What one credit is worth, in micro-dollars.' }),
      defaultPlan: slugSchema.meta({ description: 'The slug of a free plan: the plan new accounts (and those whose paid plan ended) are on.', example: 'free' }),
      unknownModelPolicy: z.enum(['refuse', 'fallback']).meta({ description: 'What a model the price book does not know gets: refused, or charged at fallbackRates.' }),
      fallbackRates: ratesInputSchema.nullable().meta({ description: 'The price charged for a model the price book does not know, when the policy is fallback; null removes it.' }),
      minHoldMicros: micros.meta({ description: 'The hold placed when a call cannot say how large it will be.' }),
      holdTtlSeconds: z
        .number({ error: 'must be a number of seconds' })
        .int('must be whole seconds')
        .min(10, 'must be at least 10 seconds')
        .max(7 * 24 * 3600, 'must be at most a week')
        .meta({ description: 'A hold left open this long lapses.' }),
      pastDueGraceDays: z
        .number({ error: 'must be a number of days' })
        .int('must be whole days')
        .min(0, 'must be 0 (refuse at once) or more')
        .max(90, 'must be at most 90 days')
        .meta({ description: "Days an account whose renewal's payment failed keeps the default plan's terms before the gate refuses it (payment_past_due); 0 refuses at once.", example: 3 }),
      /** The preset the catalog came from, as applyPreset records it. */
      pricingMode: z.enum(PRICING_MODES).nullable(),
      refundUsedValue: z.enum(['debt', 'write_off']).meta({
        description: 'What becomes of value already used of a refunded pack: debt (the account owes it; its next purchase pays it) or write_off (forgiven).',
      }),
    })
    .partial()
    .strict(),
);
/** Settings as a caller gives them: fallbackRates as an admin writes rates, by token type (the parse says what is missing). */
export type SettingsInput = Omit<z.input<typeof settingsInputSchema>, 'fallbackRates'> & { fallbackRates?: RatesInput | null };
