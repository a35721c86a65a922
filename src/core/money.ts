/**
 * Money inside Tollgate is an integer count of micro-dollars (µ$, 1e-6 USD) held in a JS number
 * and checked with Number.isSafeInteger at every boundary: exact up to about $9 billion.
 * Prices per token are finer than a micro-dollar, so pricing works in bigint pico-dollars
 * (1e-12 USD) and rounds once, in a named direction, when it turns into micro-dollars.
 */
import { BillingError } from './errors.ts';

declare const microsBrand: unique symbol;
/** Integer micro-dollars. Signed: ledger entries debit with negative amounts. */
export type Micros = number & { readonly [microsBrand]: true };

export const MICROS_PER_CENT = 10_000;
export const MICROS_PER_DOLLAR = 1_000_000;
export const PICOS_PER_MICRO = 1_000_000n;
export const BPS_PER_UNIT = 10_000;

export function asMicros(value: number, field = 'amount'): Micros {
  if (!Number.isSafeInteger(value)) {
    throw new BillingError('invalid_input', `${field} must be a whole number of micro-dollars within ±2^53, got ${String(value)}`);
  }
  return value as Micros;
}

export function centsToMicros(cents: number): Micros {
  return asMicros(cents * MICROS_PER_CENT, 'cents');
}

/** Division of non-negative bigints, rounding up. */
export function ceilDiv(numerator: bigint, denominator: bigint): bigint {
  return (numerator + denominator - 1n) / denominator;
}

/** Division of non-negative bigints, rounding half up. */
export function roundDiv(numerator: bigint, denominator: bigint): bigint {
  return (numerator * 2n + denominator) / (denominator * 2n);
}

export function bigintToMicros(value: bigint): Micros {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new BillingError('invalid_input', 'The amount is more than $9,007,199,254.74 (about $9 billion), the most an amount can be');
  }
  return Number(value) as Micros;
}

/**
 * Usage value charged for a provider cost: value = cost / (1 − margin), rounded UP to the
 * micro-dollar so that rounding never sells usage below its cost. At 50% margin, $10 of
 * provider cost is $20 of usage value.
 */
export function valueFromCost(costPicos: bigint, marginBps: number): Micros {
  const keptBps = BigInt(BPS_PER_UNIT - marginBps);
  return bigintToMicros(ceilDiv(costPicos * BigInt(BPS_PER_UNIT), keptBps * PICOS_PER_MICRO));
}

/** The provider cost a value buys at a margin, rounded down (the inverse of valueFromCost). */
export function costFromValue(value: Micros, marginBps: number): Micros {
  return bigintToMicros((BigInt(value) * BigInt(BPS_PER_UNIT - marginBps)) / BigInt(BPS_PER_UNIT));
}

export function formatUsd(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  const dollars = Math.floor(abs / MICROS_PER_DOLLAR);
  const rest = String(abs % MICROS_PER_DOLLAR).padStart(6, '0');
  const cents = rest.slice(0, 2);
  const finer = rest.slice(2).replace(/0+$/, '');
  return `${sign}$${dollars.toLocaleString('en-US')}.${cents}${finer}`;
}

/**
 * An amount as a person reads it, one rule wherever amounts stand side by side: to the cent from
 * a dollar up ("$84.39"); below a dollar, three significant digits and never fewer than cents
 * ("$0.85", "$0.855", "$0.0123"), which is exact under a tenth of a cent ("$0.000123"), where
 * one call's fractions of a cent are the point. Rounded half away from zero. formatUsd is exact.
 */
export function formatUsdRounded(micros: number): string {
  const abs = Math.abs(micros);
  const step = abs >= MICROS_PER_DOLLAR ? MICROS_PER_CENT : 10 ** Math.max(0, String(abs).length - 3);
  const rounded = Math.floor((abs + step / 2) / step) * step;
  return formatUsd(micros < 0 && rounded > 0 ? -rounded : rounded);
}

/** How amounts are shown to an account's people (the settings' display unit): dollars, or credits of a value. */
export interface Display {
  displayUnit: 'usd' | 'credits';
  creditValueMicros: number;
}

/**
 * A number of credits by the dollars' rule: up to two decimals from one credit up, three
 * significant digits below it, so one call's fraction of a credit never reads as none ("1,000
 * credits", "0.5 credits", "0.00291 credits", "1 credit"), singular as shown.
 */
export function formatCredits(micros: number, creditValueMicros: number): string {
  const credits = micros / creditValueMicros;
  const digits = Math.abs(credits) < 1 ? { maximumSignificantDigits: 3 } : { maximumFractionDigits: 2 };
  const n = credits.toLocaleString('en-US', digits);
  return `${n} ${n.replace('-', '') === '1' ? 'credit' : 'credits'}`;
}

/**
 * An amount in the display unit, as people read it: dollars by the one rule (formatUsdRounded), or
 * credits. A refusal and the billing page say a balance the same way.
 */
export function formatValue(micros: number, display: Display | undefined): string {
  return display?.displayUnit === 'credits' ? formatCredits(micros, display.creditValueMicros) : formatUsdRounded(micros);
}

/** Whole cents as dollars, exact for any safe integer: 2000 → "$20.00". */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}$${Math.floor(abs / 100).toLocaleString('en-US')}.${String(abs % 100).padStart(2, '0')}`;
}

/** Basis points as a percentage: 5000 → "50%", 6250 → "62.5%". */
export function formatBps(bps: number): string {
  return `${(bps / 100).toLocaleString('en-US', { maximumFractionDigits: 2 })}%`;
}
