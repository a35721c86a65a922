/**
 * Rates as an admin writes them (an override of a model's price, the fallback price): decimal
 * strings or numbers of dollars per million tokens, or tiers, checked and made canonical into a
 * PriceEntry. The schemas are exported for whatever else takes rates as input.
 */
import { z } from 'zod';
import { parseInput } from '../input.ts';
import { decimalToYoctos, toDecimalRate, YOCTOS_PER_DOLLAR_PER_MTOK, type DecimalRate, type PriceEntry, type PriceRates, type Rate } from './price.ts';

/**
 * The highest rate an admin may set: $1 a token ($1,000 a request for a request rate), far
 * above any model's, so that what a call costs stays well inside the micro-dollar range.
 */
export const MAX_ADMIN_RATE = 1_000_000;

const decimalRateSchema = z.unknown().transform((value, ctx): DecimalRate => {
  const result = toDecimalRate(value);
  if (typeof result !== 'string') {
    ctx.addIssue({ code: 'custom', message: result.error });
    return z.NEVER;
  }
  if (decimalToYoctos(result) > BigInt(MAX_ADMIN_RATE) * YOCTOS_PER_DOLLAR_PER_MTOK) {
    ctx.addIssue({ code: 'custom', message: `$${result} is more than $${MAX_ADMIN_RATE.toLocaleString('en-US')}, the most a rate can be (dollars per million tokens)` });
    return z.NEVER;
  }
  return result;
}).meta({
  type: ['string', 'number'],
  description: `Dollars per million tokens: a decimal string ("2.5") or a number (0.1 reads as "0.1"), from 0 to ${MAX_ADMIN_RATE.toLocaleString('en-US')}.`,
  example: '2.5',
});

const tieredRateSchema = z
  .object({
    base: decimalRateSchema,
    tiers: z
      .array(
        z
          .object({
            start: z.number().int('must be a whole number of tokens').nonnegative('must not be negative').max(Number.MAX_SAFE_INTEGER),
            price: decimalRateSchema,
          })
          .strict(),
      )
      .min(1, 'a tiered rate needs at least one tier'),
  })
  .strict()
  .superRefine((rate, ctx) => {
    for (let i = 1; i < rate.tiers.length; i++) {
      if (rate.tiers[i]!.start <= rate.tiers[i - 1]!.start) {
        ctx.addIssue({ code: 'custom', path: ['tiers', i, 'start'], message: 'tier starts must be strictly ascending' });
      }
    }
  });

/** What a schema takes, as JSON Schema: the document of a rate, whose parse dispatches by hand. */
function inputJsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return json;
}

/** One rate: a decimal (string or number) or tiers, into its canonical Rate. */
// A union would hide both branches' messages behind "Invalid input"; dispatch on the shape instead.
export const rateInputSchema = z.unknown().transform((value, ctx): Rate => {
  const schema = typeof value === 'object' && value !== null ? tieredRateSchema : decimalRateSchema;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  return z.NEVER;
}).meta({
  id: 'RateInput',
  description: 'A rate: dollars per million tokens, or tiers, each tier\'s price applying to every token when the request\'s input tokens exceed its start.',
  anyOf: [inputJsonSchema(decimalRateSchema), inputJsonSchema(tieredRateSchema)],
});

/** A price's rates by token type: input and output required, the rest split out of them when given. */
export const ratesInputSchema = z
  .object({
    input: rateInputSchema,
    output: rateInputSchema,
    cacheRead: rateInputSchema.optional(),
    cacheWrite: rateInputSchema.optional(),
    reasoning: rateInputSchema.optional(),
    requests: rateInputSchema.optional().meta({ description: 'Dollars per thousand requests: a fee on every call.' }),
  })
  .strict()
  .meta({ id: 'RatesInput' });

export const priceEntryInputSchema = z
  .object({
    source: z.enum(['override', 'fallback']),
    provider: z.string().trim().max(100), // '' applies to the model under any provider
    model: z.string().trim().min(1, 'must not be empty'),
    effectiveFrom: z.iso
      .datetime({ offset: true, message: 'must be an ISO date-time' })
      .transform((iso) => new Date(iso).toISOString())
      .optional(),
    rates: ratesInputSchema,
  })
  .strict();

/** A rate as an admin may write it: numbers are read as the decimal they print as (0.1 → "0.1"). */
export type RateInput = string | number | { base: string | number; tiers: { start: number; price: string | number }[] };
/** Rates as a form or a caller gives them, by token type: their parse says which is missing or unknown. */
export type RatesInput = Partial<Record<string, RateInput>>;

export interface PriceEntryInput {
  source: 'override' | 'fallback';
  provider: string;
  model: string;
  effectiveFrom?: string;
  rates: { input: RateInput; output: RateInput; cacheRead?: RateInput; cacheWrite?: RateInput; reasoning?: RateInput; requests?: RateInput };
}

/** Validate admin-supplied rates into a PriceEntry (input is re-checked at run time); bad input throws invalid_input. */
export function priceEntryFromRates(input: PriceEntryInput): PriceEntry {
  return priceEntryOf(parseInput(priceEntryInputSchema, input, 'price rates'));
}

/** A price entry from rates its schemas parsed already (ratesInputSchema's output). */
export function priceEntryOf(parsed: z.output<typeof priceEntryInputSchema>): PriceEntry {
  const rates: { -readonly [K in keyof PriceRates]: PriceRates[K] } = { input: parsed.rates.input, output: parsed.rates.output };
  for (const key of ['cacheRead', 'cacheWrite', 'reasoning'] as const) {
    const rate = parsed.rates[key];
    if (rate !== undefined) rates[key] = rate;
  }
  if (parsed.rates.requests !== undefined) rates.requests = parsed.rates.requests;
  return {
    source: parsed.source,
    provider: parsed.provider,
    model: parsed.model,
    ...(parsed.effectiveFrom === undefined ? {} : { effectiveFrom: parsed.effectiveFrom }),
    rates,
  };
}
