/**
 * Amounts in the chat: as the app shows them everywhere (the display unit: dollars exactly, or
 * credits to two places), except a fraction of a credit, which a single answer often costs:
 * that is told to three significant digits ("0.0291 credits"), not rounded to nothing.
 */
import { displayAmount } from '../tollgate/display.ts';
import type { Pricing } from '../tollgate/tollgate.ts';

export type DisplayUnit = Pick<Pricing, 'unit' | 'credit'>;

interface LimitUse {
  window: 'day' | 'month';
  unit: 'usd' | 'tokens';
  amount: number;
  used: number;
}

export function shown(micros: number, unit: DisplayUnit): string {
  if (unit.unit === 'usd' || unit.credit === null || micros === 0 || Math.abs(micros) >= unit.credit.micros) return displayAmount(micros, unit);
  return `${(micros / unit.credit.micros).toLocaleString('en-US', { maximumSignificantDigits: 3 })} credits`;
}

/** Each limit's use in its window, as "Today: 4.2 of 10 credits" (`who` names a member's own cap). */
export function limitLines(limits: readonly LimitUse[], unit: DisplayUnit, who: string): string[] {
  return limits.map((limit) => {
    const when = `${who}${limit.window === 'day' ? 'today' : 'this month'}`;
    const of = limit.unit === 'usd'
      ? `${shown(limit.used, unit).replace(/ credits?$/, '')} of ${shown(limit.amount, unit)}`
      : `${limit.used.toLocaleString('en-US')} of ${limit.amount.toLocaleString('en-US')} tokens`;
    return `${when[0]!.toUpperCase()}${when.slice(1)}: ${of}`;
  });
}
