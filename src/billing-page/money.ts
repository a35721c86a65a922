/**
 * Usage value as a customer reads it: in credits when the settings say credits (what the app
 * sells), else in dollars; what is paid is always dollars. Display only; a form's amount is read
 * back exactly, as the unit shown (never through a float).
 */
import { BillingError } from '../core/errors.ts';
import { formatValue, type Display } from '../core/money.ts';
import { plainDollars, zonedDateTime } from '../admin/format.ts';
import { microsField, wholeField, type Form } from '../admin/form.ts';

export type { Display };

export const displayOf = ({ displayUnit, creditValueMicros }: Display): Display => ({ displayUnit, creditValueMicros });

/** "1,250 credits" or "$12.50": as the panel and a refusal say it (core/money.ts). */
export const amount = (micros: number, display: Display) => formatValue(micros, display);

/** The unit's name for a form's label. */
export const unitLabel = (display: Display) => (display.displayUnit === 'credits' ? 'credits' : '$');

/** An amount typed in the unit shown (whole credits, or dollars) as micro-dollars; blank is undefined. */
export function amountField(form: Form, name: string, label: string, display: Display): number | undefined {
  if (display.displayUnit === 'usd') return microsField(form, name, label);
  const whole = wholeField(form, name, label);
  if (whole === undefined) return undefined;
  // Said in credits, as typed: not as the dollars the library would name past an amount's most.
  const most = Math.floor(Number.MAX_SAFE_INTEGER / display.creditValueMicros);
  if (whole > most) throw new BillingError('invalid_input', `${label}: ${whole.toLocaleString('en-US')} credits is more than ${most.toLocaleString('en-US')}, the most it can be`, { issues: [`${label}: at most ${most.toLocaleString('en-US')} credits`] });
  return whole * display.creditValueMicros;
}

/** The same amount as the form shows it back: "500" credits, "5" or "2.5" dollars. */
export function amountValue(micros: number, display: Display): string {
  return display.displayUnit === 'credits' ? String(Math.round(micros / display.creditValueMicros)) : plainDollars(micros);
}

/** "Mar 11, 00:00" in the account's time zone, with the zone when it is not UTC. */
export function when(d: Date, timeZone: string): string {
  const [day, time] = zonedDateTime(d, timeZone).split(' ');
  const [y, m, dd] = day!.split('-').map(Number);
  const month = new Date(Date.UTC(y!, m! - 1, dd!)).toLocaleDateString('en-US', { month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' });
  return `${month}, ${time}${timeZone === 'UTC' ? ' UTC' : ` (${timeZone})`}`;
}
