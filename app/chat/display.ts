/**
 * Amounts in the chat: as the app shows them everywhere (the display unit: dollars exactly, or
 * credits to two places), except a fraction of a credit, which a single answer often costs:
 * that is told to three significant digits ("0.0291 credits"), not rounded to nothing.
 */
import { displayAmount } from '../tollgate/display.ts';
import type { Pricing } from '../tollgate/tollgate.ts';

export type DisplayUnit = Pick<Pricing, 'unit' | 'credit'>;

export function shown(micros: number, unit: DisplayUnit): string {
  if (unit.unit === 'usd' || unit.credit === null || micros === 0 || Math.abs(micros) >= unit.credit.micros) return displayAmount(micros, unit);
  return `${(micros / unit.credit.micros).toLocaleString('en-US', { maximumSignificantDigits: 3 })} credits`;
}
