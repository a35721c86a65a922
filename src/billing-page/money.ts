/**
 * Usage value as a customer reads it: in credits when the settings say credits (what the app
 * sells), else in dollars; what is paid is always dollars. Display only; a form's amount is read
 * back exactly, as the unit shown (never through a float).
 */
import { BillingError } from '../core/errors.ts';
import { formatValue, type Display } from '../core/money.ts';
import { plainDollars, zonedDateTime } from '../admin/format.ts';
import { microsField, type Form } from '../admin/form.ts';

export type { Display };

export const displayOf = ({ displayUnit, creditValueMicros }: Display): Display => ({ displayUnit, creditValueMicros });

/** "1,250 credits" or "$12.50": as the panel and a refusal say it (core/money.ts). */
export const amount = (micros: number, display: Display) => formatValue(micros, display);

/** The unit's name for a form's label. */
export const unitLabel = (display: Display) => (display.displayUnit === 'credits' ? 'credits' : '$');

/** Credits as typed: "250", "1,000", "12.5"; up to 20 decimals (a credit may be worth more than a dollar). */
const CREDITS = /^(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,20}))?$/;

/** `scaled` tenths^`decimals` of a credit as micro-dollars, to the nearest micro-dollar (half up). */
const creditsToMicros = (scaled: bigint, decimals: number, creditValueMicros: number) => {
  const unit = 10n ** BigInt(decimals);
  return (scaled * BigInt(creditValueMicros) * 2n + unit) / (2n * unit);
};

/**
 * An amount typed in the unit shown (credits, or dollars) as micro-dollars; blank is undefined.
 * Credits may have decimals, as the form shows a threshold back (amountValue); one finer than a
 * micro-dollar is rounded to the nearest, half up.
 */
export function amountField(form: Form, name: string, label: string, display: Display): number | undefined {
  if (display.displayUnit === 'usd') return microsField(form, name, label);
  const raw = form[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const match = CREDITS.exec(raw.trim().replace(/\s+/g, ''));
  if (!match) throw new BillingError('invalid_input', `${label}: "${raw}" is not an amount of credits such as 200 or 12.5`, { issues: [`${label}: an amount of credits such as 200 or 12.5`] });
  const [whole, fraction = ''] = [match[1]!.replaceAll(',', ''), match[2]];
  const micros = creditsToMicros(BigInt(whole + fraction), fraction.length, display.creditValueMicros);
  if (micros <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(micros);
  // Said in credits, as typed: not as the dollars the library would name past an amount's most.
  const most = Math.floor(Number.MAX_SAFE_INTEGER / display.creditValueMicros).toLocaleString('en-US');
  const typed = `${BigInt(whole).toLocaleString('en-US')}${fraction ? `.${fraction}` : ''}`;
  throw new BillingError('invalid_input', `${label}: ${typed} credits is more than ${most}, the most it can be`, { issues: [`${label}: at most ${most} credits`] });
}

/**
 * The same amount as the form shows it back, so that the form saved unchanged keeps it: dollars
 * exactly ("5", "2.5"), and credits with the fewest decimals that amountField reads back as the
 * very same micro-dollars ("500", "250.5"; exact whenever a decimal of credits can be).
 */
export function amountValue(micros: number, display: Display): string {
  if (display.displayUnit === 'usd') return plainDollars(micros);
  const [m, c] = [BigInt(micros), BigInt(display.creditValueMicros)];
  for (let decimals = 0; ; decimals++) {
    // The nearest number of 10^-decimals credits, half up; at the latest when 10^decimals ≥ a credit's micro-dollars, it reads back exactly.
    const scaled = (m * 10n ** BigInt(decimals) * 2n + c) / (2n * c);
    if (creditsToMicros(scaled, decimals, display.creditValueMicros) !== m) continue;
    const digits = scaled.toString().padStart(decimals + 1, '0');
    return decimals === 0 ? digits : `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
  }
}

/** "Mar 11, 00:00" in the account's time zone, with the zone when it is not UTC. */
export function when(d: Date, timeZone: string): string {
  const [day, time] = zonedDateTime(d, timeZone).split(' ');
  const [y, m, dd] = day!.split('-').map(Number);
  const month = new Date(Date.UTC(y!, m! - 1, dd!)).toLocaleDateString('en-US', { month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' });
  return `${month}, ${time}${timeZone === 'UTC' ? ' UTC' : ` (${timeZone})`}`;
}
