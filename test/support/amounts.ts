/**
 * The panel's money rule as a check on text (admin/format.ts usd): from a dollar up, cents with
 * thousands separators ("$1,234.50"); below a dollar, at least cents and at most three
 * significant digits, no trailing zero past the cents ("$0.85", "$0.855", "$0.000123"); whole
 * dollars alone, as an owner says a price in a sentence ("$20/month"), pass.
 */

/** Every amount of dollars in a text. */
export const AMOUNTS = /\$[\d,]*\d(?:\.\d+)?/g;

/** Is one amount ("$84.39") shown by the rule? */
export function inRule(amount: string): boolean {
  const [whole = '', fraction] = amount.slice(1).split('.');
  if (!/^\d{1,3}(?:,\d{3})*$/.test(whole)) return false;
  if (fraction === undefined) return true;
  if (whole !== '0') return fraction.length === 2;
  if (fraction.length < 2 || fraction.length > 6) return false;
  if (fraction.length > 2 && fraction.endsWith('0')) return false;
  return fraction.replace(/^0+/, '').length <= 3;
}

/** The first amount in `text` the rule would not show that way, or undefined. */
export function offRule(text: string): string | undefined {
  return text.match(AMOUNTS)?.find((a) => !inRule(a));
}

/** A rate of dollars per million tokens (admin/format.ts rate): at least cents, at most four decimals. */
export function rateInRule(text: string): boolean {
  return /^(?:≈ )?\$\d{1,3}(?:,\d{3})*\.\d{2,4}\+?(?: \(tiered\))?$/.test(text.trim());
}
