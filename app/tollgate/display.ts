/**
 * Amounts as the customer reads them: in the display unit the admin chose (dollars, or credits
 * worth a set amount each), by Tollgate's own rule (formatValue), so the app and its billing page
 * say one amount the same way.
 */
import { formatValue } from 'tollgate';
import type { Pricing } from './tollgate.ts';

export function displayAmount(micros: number, pricing: Pick<Pricing, 'unit' | 'credit'>): string {
  return formatValue(micros, pricing.unit === 'usd' || pricing.credit === null ? undefined : { displayUnit: 'credits', creditValueMicros: pricing.credit.micros });
}

/** The display unit's name, for a form's label: "dollars" or "credits". */
export const unitName = (pricing: Pick<Pricing, 'unit' | 'credit'>) => (pricing.unit === 'usd' || pricing.credit === null ? 'dollars' : 'credits');

/**
 * An amount a person typed in the display unit ("0.5", "$2.25", or "150" credits) as
 * micro-dollars, exactly (a credit is a whole number of micro-dollars); undefined if it is not one.
 */
export function displayToMicros(text: string, pricing: Pick<Pricing, 'unit' | 'credit'>): number | undefined {
  const match = /^\s*\$?\s*(\d{1,7})(?:\.(\d{1,6}))?\s*$/.exec(text);
  if (!match) return undefined;
  const millionths = Number(match[1]) * 1_000_000 + Number((match[2] ?? '').padEnd(6, '0'));
  return unitName(pricing) === 'dollars' ? millionths : Math.round((millionths * pricing.credit!.micros) / 1_000_000);
}
