/**
 * What a price is: one model's rates, as plain JSON (a PriceEntry is snapshotted on every usage
 * event), with rates as decimal strings of dollars per million tokens; and the decimal
 * arithmetic those strings are read and written with.
 *
 * Units. $ per million tokens is numerically µ$ per token, so a rate with up to 6 decimals is a
 * whole number of pico-dollars per token. The bundled catalog also holds rates such as
 * 0.08333333333333334 (1/12 as a float, 17 decimals), so arithmetic is done one unit finer
 * still: a rate is parsed into an integer count of yocto-dollars (1e-24 $) per token, exact for
 * up to 18 decimals, and a cost is rounded once to pico-dollars at the end (cost.ts).
 */
import { BillingError } from '../errors.ts';

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

// ---------------------------------------------------------------------------------------------
// Decimals (string arithmetic only: a float never touches a rate)

/** Finest rate precision: 18 decimals of $/Mtok, i.e. whole yocto-dollars per token. */
export const MAX_RATE_DECIMALS = 18;
export const YOCTOS_PER_DOLLAR_PER_MTOK = 10n ** BigInt(MAX_RATE_DECIMALS);
const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

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
export function toDecimalRate(value: unknown): DecimalRate | { error: string } {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { error: `must be a finite number, got ${value}` };
    if (value < 0) return { error: `must not be negative, got ${value}` };
    text = numberToDecimal(value);
  } else if (typeof value === 'string') {
    if (/^-\d/.test(value.trim())) return { error: `must not be negative, got ${JSON.stringify(value)}` };
    text = value.trim();
  } else if (value === undefined) {
    return { error: 'must be given: dollars per million tokens, such as 2.5' };
  } else {
    return { error: `must be a decimal string like "2.5" or a number (dollars per million tokens), got ${value === null ? 'null' : typeof value}` };
  }
  const match = DECIMAL.exec(text);
  if (!match) return { error: `must be a decimal like "2.5" (dollars per million tokens), got ${JSON.stringify(value)}` };
  if ((match[2]?.length ?? 0) > MAX_RATE_DECIMALS) return { error: `has more than ${MAX_RATE_DECIMALS} decimals: ${text}` };
  return yoctosToDecimal(decimalToYoctos(text));
}
