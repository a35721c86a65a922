/**
 * The price book: what one model's tokens cost, exactly. A PriceEntry is plain JSON (it is
 * snapshotted on every usage event), with rates as decimal strings of dollars per million tokens.
 *
 * Units. $ per million tokens is numerically µ$ per token, so a rate with up to 6 decimals is a
 * whole number of pico-dollars per token. The bundled catalog also holds rates such as
 * 0.08333333333333334 (1/12 as a float, 17 decimals), so arithmetic is done one unit finer
 * still: a rate is parsed into an integer count of yocto-dollars (1e-24 $) per token, exact for
 * up to 18 decimals, and the cost is rounded once to pico-dollars at the end.
 *
 * Semantics mirror genai-prices (dist/index.js: `ne` for the leaves, `de`/`_e` for tiers): input
 * tokens include cache reads and writes and output tokens include reasoning; a part is split out
 * of its total only when it has its own rate, otherwise it is charged at the total's rate.
 */
import { z } from 'zod';
import type { ModelPrice, TieredPrices } from '@pydantic/genai-prices';
import { BillingError } from './errors.ts';
import { ceilDiv, picosToMicrosRounded, roundDiv, type Micros } from './money.ts';
import { parseInput } from './input.ts';
import type { TokenUsage } from './usage.ts';
import { findCatalogPrice, type CatalogPrice } from './genai-catalog.ts';

export type PriceSource = 'bundled' | 'override' | 'fallback';

/** Dollars per million tokens, as a canonical decimal string: "2.5", "0.075", "0". */
export type DecimalRate = string;

export interface RateTier {
  /** The tier applies when the request's total input tokens are strictly greater than this. */
  readonly start: number;
  readonly price: DecimalRate;
}

/**
 * genai-prices' TieredPrices: the tier with the highest `start` below the request's TOTAL input
 * tokens sets the price of every token of the dimension (not just those above the threshold).
 */
export interface TieredRate {
  readonly base: DecimalRate;
  readonly tiers: readonly RateTier[];
}

export type Rate = DecimalRate | TieredRate;

export interface PriceRates {
  readonly input: Rate;
  readonly output: Rate;
  readonly cacheRead?: Rate;
  readonly cacheWrite?: Rate;
  readonly reasoning?: Rate;
  /** Dollars per thousand requests (genai-prices' requests_kcount): a fee on every call, whatever its tokens. */
  readonly requests?: Rate;
}

export interface PriceEntry {
  readonly source: PriceSource;
  readonly provider: string;
  /** Canonical model id (the catalog's, for bundled entries: "claude-sonnet-4-0", not the dated alias). */
  readonly model: string;
  readonly effectiveFrom?: string;
  readonly rates: PriceRates;
}

export interface Cost {
  /** Exact provider cost in pico-dollars (rounded half-up only for rates finer than 6 decimals). */
  readonly costPicos: bigint;
  /** costPicos rounded half-up to the micro-dollar. */
  readonly costMicros: Micros;
}

/** Finest rate precision: 18 decimals of $/Mtok, i.e. whole yocto-dollars per token. */
export const MAX_RATE_DECIMALS = 18;
const YOCTOS_PER_DOLLAR_PER_MTOK = 10n ** BigInt(MAX_RATE_DECIMALS);
const YOCTOS_PER_PICO = 10n ** 12n;
/** A request rate is $ per thousand requests: one request costs a thousand times what a token at that $/Mtok does. */
const YOCTOS_PER_REQUEST_RATE = 1000n;
const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

// ---------------------------------------------------------------------------------------------
// Cost

export function costOf(entry: PriceEntry, usage: TokenUsage): Cost {
  const { rates } = entry;
  const input = tokens(usage.inputTokens, 'inputTokens');
  const output = tokens(usage.outputTokens, 'outputTokens');
  // Parts without a rate of their own stay in their total and are charged at its rate.
  const cacheRead = rates.cacheRead === undefined ? 0 : tokens(usage.cacheReadTokens ?? 0, 'cacheReadTokens');
  const cacheWrite = rates.cacheWrite === undefined ? 0 : tokens(usage.cacheWriteTokens ?? 0, 'cacheWriteTokens');
  const reasoning = rates.reasoning === undefined ? 0 : tokens(usage.reasoningTokens ?? 0, 'reasoningTokens');
  const uncachedInput = input - cacheRead - cacheWrite;
  const plainOutput = output - reasoning;
  if (uncachedInput < 0) throw new BillingError('invalid_input', 'cacheReadTokens + cacheWriteTokens must not exceed inputTokens');
  if (plainOutput < 0) throw new BillingError('invalid_input', 'reasoningTokens must not exceed outputTokens');

  let yoctos = BigInt(uncachedInput) * rateYoctos(rates.input, input) + BigInt(plainOutput) * rateYoctos(rates.output, input);
  if (rates.cacheRead !== undefined) yoctos += BigInt(cacheRead) * rateYoctos(rates.cacheRead, input);
  if (rates.cacheWrite !== undefined) yoctos += BigInt(cacheWrite) * rateYoctos(rates.cacheWrite, input);
  if (rates.reasoning !== undefined) yoctos += BigInt(reasoning) * rateYoctos(rates.reasoning, input);
  if (rates.requests !== undefined) yoctos += rateYoctos(rates.requests, input) * YOCTOS_PER_REQUEST_RATE;

  const costPicos = roundDiv(yoctos, YOCTOS_PER_PICO);
  return { costPicos, costMicros: picosToMicrosRounded(costPicos) };
}

/**
 * The most a call with `inputTokens` input tokens and at most `maxOutputTokens` output tokens can
 * cost, in pico-dollars rounded up: every input token at the dearest input-side rate, every
 * output token at the dearest output-side rate. Tiers are not assumed to rise: the dearest of
 * the tiers reachable with up to `inputTokens` input tokens is used, so this bounds costOf for
 * any usage with at most these many tokens of each direction.
 */
export function worstCaseCostOf(entry: PriceEntry, inputTokens: number, maxOutputTokens: number): bigint {
  const { rates } = entry;
  const input = tokens(inputTokens, 'inputTokens');
  const output = tokens(maxOutputTokens, 'maxOutputTokens');
  const dearest = (list: (Rate | undefined)[]) =>
    list.reduce<bigint>((max, rate) => (rate === undefined ? max : bigMax(max, maxRateYoctos(rate, input))), 0n);
  const inputRate = dearest([rates.input, rates.cacheRead, rates.cacheWrite]);
  const outputRate = dearest([rates.output, rates.reasoning]);
  const request = rates.requests === undefined ? 0n : maxRateYoctos(rates.requests, input) * YOCTOS_PER_REQUEST_RATE;
  return ceilDiv(BigInt(input) * inputRate + BigInt(output) * outputRate + request, YOCTOS_PER_PICO);
}

/** A rate in yocto-dollars per token, for a request with `inputTokens` total input tokens. */
export function rateYoctos(rate: Rate, inputTokens: number): bigint {
  if (typeof rate === 'string') return decimalToYoctos(rate);
  let price = rate.base;
  let chosenStart = -1;
  for (const tier of rate.tiers) {
    if (inputTokens > tier.start && tier.start > chosenStart) {
      price = tier.price;
      chosenStart = tier.start;
    }
  }
  return decimalToYoctos(price);
}

/** The dearest rate any request with up to `inputTokens` input tokens can be charged. */
function maxRateYoctos(rate: Rate, inputTokens: number): bigint {
  if (typeof rate === 'string') return decimalToYoctos(rate);
  let max = decimalToYoctos(rate.base);
  for (const tier of rate.tiers) if (inputTokens > tier.start) max = bigMax(max, decimalToYoctos(tier.price));
  return max;
}

function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function tokens(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new BillingError('invalid_input', `${field} must be a non-negative whole number of tokens, got ${String(value)}`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// Decimals (string arithmetic only: a float never touches a rate)

/** "2.5" ($/Mtok) → 2_500_000_000_000_000_000n yocto-dollars per token. */
export function decimalToYoctos(decimal: string): bigint {
  const match = DECIMAL.exec(decimal);
  const fraction = match?.[2] ?? '';
  if (!match || fraction.length > MAX_RATE_DECIMALS) {
    throw new BillingError('invalid_input', `Invalid rate ${JSON.stringify(decimal)}: expected a non-negative decimal with at most ${MAX_RATE_DECIMALS} decimals`);
  }
  return BigInt(match[1]!) * YOCTOS_PER_DOLLAR_PER_MTOK + BigInt(fraction.padEnd(MAX_RATE_DECIMALS, '0'));
}

function yoctosToDecimal(yoctos: bigint): DecimalRate {
  const whole = yoctos / YOCTOS_PER_DOLLAR_PER_MTOK;
  const fraction = (yoctos % YOCTOS_PER_DOLLAR_PER_MTOK).toString().padStart(MAX_RATE_DECIMALS, '0').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : whole.toString();
}

/**
 * A number as the decimal it denotes: JS prints the shortest decimal that round-trips to the
 * same double (0.1 → "0.1"), which is what the number was written as; exponent forms are
 * expanded by moving the point in the digit string.
 */
function numberToDecimal(value: number): string {
  const printed = String(value);
  const exp = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(printed);
  if (!exp) return printed;
  const digits = exp[1]! + (exp[2] ?? '');
  const point = 1 + Number(exp[3]);
  if (point <= 0) return `0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return digits + '0'.repeat(point - digits.length);
  return `${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** A rate value from untrusted input or catalog data, as a canonical decimal string, or why not. */
function toDecimalRate(value: unknown): DecimalRate | { error: string } {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { error: `must be a finite number, got ${value}` };
    if (value < 0) return { error: `must not be negative, got ${value}` };
    text = numberToDecimal(value);
  } else if (typeof value === 'string') {
    if (/^-\d/.test(value.trim())) return { error: `must not be negative, got ${JSON.stringify(value)}` };
    text = value.trim();
  } else {
    return { error: `must be a decimal string like "2.5" or a number (dollars per million tokens), got ${value === null ? 'null' : typeof value}` };
  }
  const match = DECIMAL.exec(text);
  if (!match) return { error: `must be a decimal like "2.5" (dollars per million tokens), got ${JSON.stringify(value)}` };
  if ((match[2]?.length ?? 0) > MAX_RATE_DECIMALS) return { error: `has more than ${MAX_RATE_DECIMALS} decimals: ${text}` };
  return yoctosToDecimal(decimalToYoctos(text));
}

// ---------------------------------------------------------------------------------------------
// Admin-supplied rates

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
    ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_ADMIN_RATE.toLocaleString('en-US')} (dollars per million tokens), got ${result}` });
    return z.NEVER;
  }
  return result;
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

// A union would hide both branches' messages behind "Invalid input"; dispatch on the shape instead.
const rateSchema = z.unknown().transform((value, ctx): Rate => {
  const schema = typeof value === 'object' && value !== null ? tieredRateSchema : decimalRateSchema;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  return z.NEVER;
});

const priceEntryInputSchema = z
  .object({
    source: z.enum(['override', 'fallback']),
    provider: z.string().trim().max(100), // '' applies to the model under any provider
    model: z.string().trim().min(1, 'must not be empty'),
    effectiveFrom: z.iso
      .datetime({ offset: true, message: 'must be an ISO date-time' })
      .transform((iso) => new Date(iso).toISOString())
      .optional(),
    rates: z
      .object({
        input: rateSchema,
        output: rateSchema,
        cacheRead: rateSchema.optional(),
        cacheWrite: rateSchema.optional(),
        reasoning: rateSchema.optional(),
        requests: rateSchema.optional(),
      })
      .strict(),
  })
  .strict();

/** A rate as an admin may write it: numbers are read as the decimal they print as (0.1 → "0.1"). */
export type RateInput = string | number | { base: string | number; tiers: { start: number; price: string | number }[] };

export interface PriceEntryInput {
  source: 'override' | 'fallback';
  provider: string;
  model: string;
  effectiveFrom?: string;
  rates: { input: RateInput; output: RateInput; cacheRead?: RateInput; cacheWrite?: RateInput; reasoning?: RateInput; requests?: RateInput };
}

/** Validate admin-supplied rates into a PriceEntry (input is re-checked at run time); bad input throws invalid_input. */
export function priceEntryFromRates(input: PriceEntryInput): PriceEntry {
  const parsed = parseInput(priceEntryInputSchema, input, 'price rates');
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

// ---------------------------------------------------------------------------------------------
// Bundled catalog

// Converted once per catalog price; entries are frozen because every lookup shares them.
const bundledEntries = new WeakMap<CatalogPrice, PriceEntry | null>();

/**
 * The bundled genai-prices price of a model at time `at`, or undefined when the catalog does not
 * know the model or has no input and output token rates for it. See findCatalogPrice for the
 * id forms accepted. Cached: a repeated lookup costs well under a microsecond.
 */
export function bundledPrice(model: string, provider: string | undefined, at: Date): PriceEntry | undefined {
  const found = findCatalogPrice(model, provider, at);
  if (!found) return undefined;
  let entry = bundledEntries.get(found);
  if (entry === undefined) {
    entry = entryFromCatalog(found);
    bundledEntries.set(found, entry);
  }
  return entry ?? undefined;
}

function entryFromCatalog(found: CatalogPrice): PriceEntry | null {
  const { price } = found;
  // Price keys with no token dimension here (audio, images, searches, 1h cache writes) do not
  // apply to a TokenUsage: genai-prices charges those tokens within their totals too. A
  // request fee applies to every call, as genai-prices counts one request per usage.
  if (price.input_mtok === undefined || price.output_mtok === undefined) return null;
  const rates: { -readonly [K in keyof PriceRates]: PriceRates[K] } = {
    input: catalogRate(price, 'input_mtok'),
    output: catalogRate(price, 'output_mtok'),
  };
  if (price.cache_read_mtok !== undefined) rates.cacheRead = catalogRate(price, 'cache_read_mtok');
  if (price.cache_write_mtok !== undefined) rates.cacheWrite = catalogRate(price, 'cache_write_mtok');
  if (price.output_reasoning_mtok !== undefined) rates.reasoning = catalogRate(price, 'output_reasoning_mtok');
  if (price.requests_kcount !== undefined) rates.requests = catalogRate(price, 'requests_kcount');
  return deepFreeze({
    source: 'bundled',
    provider: found.provider,
    model: found.model,
    ...(found.effectiveFrom === undefined ? {} : { effectiveFrom: found.effectiveFrom }),
    rates,
  } satisfies PriceEntry);
}

function catalogRate(price: ModelPrice, key: string): Rate {
  const value = price[key] as number | TieredPrices;
  if (typeof value === 'number') return catalogDecimal(value, key);
  return {
    base: catalogDecimal(value.base, key),
    tiers: [...value.tiers].sort((a, b) => a.start - b.start).map((tier) => ({ start: tier.start, price: catalogDecimal(tier.price, key) })),
  };
}

function catalogDecimal(value: number, key: string): DecimalRate {
  const result = toDecimalRate(value);
  if (typeof result !== 'string') throw new Error(`genai-prices ${key} ${result.error}`);
  return result;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
