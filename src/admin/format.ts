/**
 * How the panel shows figures: money by one rule on every page (usd: to the cent from a dollar
 * up, three significant digits below) or in the display unit, rates per million tokens, token
 * counts, dates (UTC). Display only: nothing here is read back as a number; a form's field holds
 * an amount exactly (plainDollars).
 */
import { formatBps, formatCredits, formatUsdRounded, MICROS_PER_CENT, type Display } from '../core/money.ts';
import { decimalToYoctos, YOCTOS_PER_DOLLAR_PER_MTOK, type Rate } from '../core/pricing/price.ts';
import type { Limit } from '../core/plan.ts';

export type { Display };

/** A price in cents: "$20.00". */
export const cents = (value: number) => usd(value * MICROS_PER_CENT);

/** Whole dollars without cents when there are none, for sentences: "$20", "$9.50". */
export function dollars(centsValue: number): string {
  const text = cents(centsValue);
  return text.endsWith('.00') ? text.slice(0, -3) : text;
}

/** A number of display credits: up to two decimals, with thousands separators. */
export const credits = (micros: number, display: Display): string => formatCredits(micros, display.creditValueMicros);

/**
 * An amount of money, the one way the panel shows it (core/money.ts formatUsdRounded): "$84.39",
 * "$1,234,567.89"; "$0.85", "$0.855", "$0.0123", "$0.000123" below a dollar. Never "$0.854582"
 * beside "$84.39": exact amounts are in the money view's CSV and the API.
 */
export const usd = formatUsdRounded;

/** Usage value as people see it: dollars, or credits with the dollars beside them. */
export function value(micros: number, display: Display): string {
  return display.displayUnit === 'credits' ? `${credits(micros, display)} (${usd(micros)})` : usd(micros);
}

/** The finest step a rate is shown to: a ten-thousandth of a dollar per million tokens. */
export const RATE_STEP = YOCTOS_PER_DOLLAR_PER_MTOK / 10_000n;

/** A rate counted in RATE_STEPs, as money: at least cents ("$0.30", never "$0.3"), at most four decimals, "≈" when it is not `exact`. */
export function rateSteps(steps: bigint, exact: boolean): string {
  const fraction = (steps % 10_000n).toString().padStart(4, '0').replace(/0{1,2}$/, '');
  return `${exact ? '' : '≈ '}$${(steps / 10_000n).toLocaleString('en-US')}.${fraction}`;
}

/** A decimal rate to the nearest RATE_STEP. */
function rateAmount(decimal: string): string {
  const yoctos = decimalToYoctos(decimal);
  const steps = (yoctos + RATE_STEP / 2n) / RATE_STEP;
  return rateSteps(steps, steps * RATE_STEP === yoctos);
}

/** A rate of dollars per million tokens, the unit said where it is shown: "$2.50", or the base and "+ (tiered)" for tiered rates. */
export function rate(r: Rate | undefined): string {
  if (r === undefined) return '—';
  if (typeof r === 'string') return rateAmount(r);
  return `${rateAmount(r.base)}+ (tiered)`;
}

/** The unit of every token rate, said beside it. */
export const PER_MTOK = '$ per 1M tokens';

/** 1234 → "1,234"; 1_250_000 → "1.25M"; 3_400 → "3.4k" when `short`. */
export function tokens(n: number, short = false): string {
  if (!short || n < 10_000) return n.toLocaleString('en-US');
  if (n < 1_000_000) return `${(n / 1_000).toLocaleString('en-US', { maximumFractionDigits: 1 })}k`;
  if (n < 1_000_000_000) return `${(n / 1_000_000).toLocaleString('en-US', { maximumFractionDigits: 2 })}M`;
  return `${(n / 1_000_000_000).toLocaleString('en-US', { maximumFractionDigits: 2 })}B`;
}

/** "2026-03-10 12:00" (UTC). */
export const dateTime = (d: Date) => d.toISOString().slice(0, 16).replace('T', ' ');
/** "2026-03-10" (UTC). */
export const date = (d: Date) => d.toISOString().slice(0, 10);

/** "2026-03-11 00:00" in the IANA time zone `timeZone`: an account's own day, as its limits count it. */
export function zonedDateTime(d: Date, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(d).map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

/** A margin in basis points as a percentage: 5000 → "50%", 6250 → "62.5%". */
export const percent = formatBps;

/** Micro-dollars as a plain decimal of dollars for a form field or a CSV: 1_500_000 → "1.5". */
export function plainDollars(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  const fraction = String(abs % 1_000_000).padStart(6, '0').replace(/0+$/, '');
  return `${sign}${Math.floor(abs / 1_000_000)}${fraction ? `.${fraction}` : ''}`;
}

/** A plan's limits in a line: "$0.10 a day, $0.50 a month", "200k tokens a day"; "none". */
export function limitsText(limits: readonly Limit[], display: Display, separator = ', '): string {
  if (limits.length === 0) return 'none';
  return limits.map((l) => `${l.unit === 'usd' ? value(l.amount, display) : `${tokens(l.amount, true)} tokens`} a ${l.window}`).join(separator);
}

/** A model allow-list in a line: "all models", or its patterns (the first `most`, and how many more). */
export function modelsText(models: readonly string[], most = Infinity): string {
  if (models.length === 0) return 'all models';
  const shown = models.slice(0, most).join(', ');
  return models.length > most ? `${shown} and ${models.length - most} more` : shown;
}
