/**
 * Amounts as the account's people read them: in the display unit the admin chose (dollars, or
 * credits at what a credit is worth), exact in dollars (a chat answer often costs a fraction of
 * a cent) and to three significant digits in credits below one.
 */
import { formatUsd } from 'tollgate';
import type { Pricing } from '../tollgate/tollgate.ts';

export type DisplayUnit = Pick<Pricing, 'unit' | 'credit'>;

export function shown(micros: number, { unit, credit }: DisplayUnit): string {
  if (unit === 'usd' || credit === null) return formatUsd(micros);
  const credits = micros / credit.micros;
  const digits = Math.abs(credits) >= 1 ? { maximumFractionDigits: 2 } : { maximumSignificantDigits: 3 };
  const text = credits.toLocaleString('en-US', digits);
  return `${text} ${text === '1' ? 'credit' : 'credits'}`;
}

export const tokens = (n: number): string => `${n.toLocaleString('en-US')} ${n === 1 ? 'token' : 'tokens'}`;
