/**
 * How the panel shows figures: money with formatUsd or in the display unit, rates per million
 * tokens, token counts, dates (UTC). Display only: nothing here is read back as a number.
 */
import { formatBps, formatUsd, MICROS_PER_CENT, MICROS_PER_DOLLAR } from '../core/money.ts';
import type { Rate } from '../core/pricing/price.ts';
import type { Limit } from '../core/plan.ts';
import type { Settings } from '../core/settings.ts';

export type Display = Pick<Settings, 'displayUnit' | 'creditValueMicros'>;

/** A price in cents: "$20.00". */
export const cents = (value: number) => formatUsd(value * MICROS_PER_CENT);

/** Whole dollars without cents when there are none, for sentences: "$20", "$9.50". */
export function dollars(centsValue: number): string {
  const text = cents(centsValue);
  return text.endsWith('.00') ? text.slice(0, -3) : text;
}

/** A number of display credits: up to two decimals, with thousands separators. */
export function credits(micros: number, display: Display): string {
  const n = micros / display.creditValueMicros;
  return `${n.toLocaleString('en-US', { maximumFractionDigits: 2 })} ${Math.abs(n) === 1 ? 'credit' : 'credits'}`;
}

/**
 * A sum at a glance: to the cent from a dollar up ("$41.30", not "$41.298999"), exact below, where
 * one call's fractions of a cent are the point. The ledger and usage events show exact amounts.
 */
export function usd(micros: number): string {
  if (Math.abs(micros) < MICROS_PER_DOLLAR) return formatUsd(micros);
  return formatUsd(Math.sign(micros) * Math.round(Math.abs(micros) / MICROS_PER_CENT) * MICROS_PER_CENT);
}

/** Usage value as people see it: dollars, or credits with the dollars beside them. */
export function value(micros: number, display: Display): string {
  return display.displayUnit === 'credits' ? `${credits(micros, display)} (${usd(micros)})` : usd(micros);
}

/** A rate of dollars per million tokens: "$2.50", or the base and "tiered" for tiered rates. */
export function rate(r: Rate | undefined): string {
  if (r === undefined) return '—';
  if (typeof r === 'string') return `$${r}`;
  return `$${r.base}+ (tiered)`;
}

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
