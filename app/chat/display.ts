/**
 * Amounts in the chat: as the app shows them everywhere, and Tollgate's billing page too
 * (displayAmount: dollars to the cent, three digits below a dollar; or credits to two places).
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

/** Each limit's use in its window, as "Today: 4.2 of 10 credits" (`who` names a member's own cap). */
export function limitLines(limits: readonly LimitUse[], unit: DisplayUnit, who: string): string[] {
  return limits.map((limit) => {
    const when = `${who}${limit.window === 'day' ? 'today' : 'this month'}`;
    const of = limit.unit === 'usd'
      ? `${displayAmount(limit.used, unit).replace(/ credits?$/, '')} of ${displayAmount(limit.amount, unit)}`
      : `${limit.used.toLocaleString('en-US')} of ${limit.amount.toLocaleString('en-US')} tokens`;
    return `${when[0]!.toUpperCase()}${when.slice(1)}: ${of}`;
  });
}
