/**
 * Form fields to the library's units. People type dollars ("20", "$9.99", "1,000"), percentages
 * and whole numbers; each is read as the decimal it is (never through a float) and a field that
 * is not one is invalid_input naming the field, as the library names its own.
 */
import type { Context } from 'hono';
import { BillingError } from '../core/errors.ts';
import { MAX_CENTS, MAX_GRANT_MICROS } from '../core/input.ts';
import { formatBps, formatCents, formatUsd, formatUsdRounded } from '../core/money.ts';

export type Form = Record<string, string>;

/** The posted fields, as strings (a repeated field keeps its last value; files are ignored). */
export async function readForm(c: Context): Promise<Form> {
  const body = await c.req.parseBody();
  const form: Form = {};
  for (const [key, v] of Object.entries(body)) {
    const last = Array.isArray(v) ? v.at(-1) : v;
    if (typeof last === 'string') form[key] = last;
  }
  return form;
}

const DECIMAL = /^\$?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d*))?$/;

function invalid(label: string, raw: string, expected: string): BillingError {
  return new BillingError('invalid_input', `${label}: "${raw}" is not ${expected}`, { issues: [`${label}: ${expected}`] });
}

/** How a field's amounts are said: its most, and a value of it (in its units, as scaled reads them). */
interface Bound {
  max: number;
  say: (value: number) => string;
  /** The most, said as the library says it, when that is not say(max). */
  most?: string;
}

const DOLLARS_IN_CENTS: Bound = { max: MAX_CENTS, say: formatCents };
// 2^53 − 1 micro-dollars is no figure to read to the micro-dollar: said to the cent, as the library does.
const DOLLARS_IN_MICROS: Bound = { max: Number.MAX_SAFE_INTEGER, say: formatUsd, most: `${formatUsdRounded(Number.MAX_SAFE_INTEGER)} (about $9 billion)` };
const DOLLARS_GRANTED: Bound = { max: MAX_GRANT_MICROS, say: formatUsd };
const PERCENT_IN_BPS: Bound = { max: 10_000, say: formatBps };
const WHOLE: Bound = { max: Number.MAX_SAFE_INTEGER, say: (n) => n.toLocaleString('en-US') };

/**
 * A non-negative decimal with at most `decimals` places, scaled to an integer of 10^-decimals
 * units; one merely too large says so, and the most the field takes.
 */
function scaled(raw: string, decimals: number, label: string, expected: string, bound: Bound): number {
  const text = raw.trim().replace(/\s+/g, '');
  const match = DECIMAL.exec(text);
  const fraction = match?.[2] ?? '';
  if (!match || fraction.length > decimals) throw invalid(label, raw, expected);
  const value = Number(match[1]!.replaceAll(',', '') + fraction.padEnd(decimals, '0'));
  if (Number.isSafeInteger(value) && value <= bound.max) return value;
  const most = bound.most ?? bound.say(bound.max);
  const shown = Number.isSafeInteger(value) ? bound.say(value) : `"${raw.trim()}"`;
  throw new BillingError('invalid_input', `${label}: ${shown} is more than ${most}, the most it can be`, { issues: [`${label}: at most ${most}`] });
}

const blank = (raw: string | undefined) => raw === undefined || raw.trim() === '';

/** Dollars to whole cents ("20", "9.99"); blank is undefined. */
export function centsField(form: Form, name: string, label: string): number | undefined {
  const raw = form[name];
  return blank(raw) ? undefined : scaled(raw!, 2, label, 'an amount of dollars such as 20 or 9.99', DOLLARS_IN_CENTS);
}

/** Dollars to micro-dollars (up to six decimals: "0.000125"); blank is undefined. */
export function microsField(form: Form, name: string, label: string): number | undefined {
  const raw = form[name];
  return blank(raw) ? undefined : scaled(raw!, 6, label, 'an amount of dollars such as 10 or 0.05 (at most six decimals)', DOLLARS_IN_MICROS);
}

/** Dollars of one grant (a credit, a plan's allowance, a pack's value) to micro-dollars, up to the most the library grants at once; blank is undefined. */
export function grantField(form: Form, name: string, label: string): number | undefined {
  const raw = form[name];
  return blank(raw) ? undefined : scaled(raw!, 6, label, 'an amount of dollars such as 10 or 0.05 (at most six decimals)', DOLLARS_GRANTED);
}

/** A percentage to basis points ("50" → 5000, "62.5" → 6250); blank is undefined. */
export function bpsField(form: Form, name: string, label: string): number | undefined {
  const raw = form[name];
  return blank(raw) ? undefined : scaled(raw!.replace(/%\s*$/, ''), 2, label, 'a percentage such as 50 or 62.5', PERCENT_IN_BPS);
}

/** A whole number ("1,000"); blank is undefined. */
export function wholeField(form: Form, name: string, label: string): number | undefined {
  const raw = form[name];
  return blank(raw) ? undefined : scaled(raw!, 0, label, 'a whole number', WHOLE);
}

/** A rate in dollars per million tokens, passed on as the decimal string it is; blank is undefined. */
export function rateField(form: Form, name: string): string | undefined {
  const raw = form[name]?.trim().replace(/^\$/, '');
  return raw ? raw : undefined;
}

/** A list typed one per line or comma-separated ("gpt-4o-mini, claude-*"). */
export function listField(form: Form, name: string): string[] {
  return (form[name] ?? '').split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
}

/** A checkbox: present when ticked. */
export const checked = (form: Form, name: string) => form[name] !== undefined && form[name] !== 'false';

/** The idempotency key a money-moving form carries (layout.tsx's EffectKey), if it does. */
export const effectKey = (form: Form) => ({ idempotencyKey: form.idempotencyKey || undefined });
