/**
 * Amounts as the customer reads them: in the display unit the admin chose (dollars, or credits
 * worth a set amount each), as Tollgate's own pages show them.
 */
import { formatUsd } from 'tollgate';
import type { Pricing } from './tollgate.ts';

export function displayAmount(micros: number, pricing: Pick<Pricing, 'unit' | 'credit'>): string {
  if (pricing.unit === 'usd' || pricing.credit === null) return formatUsd(micros);
  const credits = (micros / pricing.credit.micros).toLocaleString('en-US', { maximumFractionDigits: 2 });
  return `${credits} ${credits === '1' ? 'credit' : 'credits'}`;
}

/** Dollars typed by a person ("0.5", "$2.25") as micro-dollars, exactly; undefined if it is not an amount. */
export function dollarsToMicros(text: string): number | undefined {
  const match = /^\s*\$?\s*(\d{1,7})(?:\.(\d{1,6}))?\s*$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * 1_000_000 + Number((match[2] ?? '').padEnd(6, '0'));
}
