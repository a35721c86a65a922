/**
 * The money view as CSV, by day, by model or by processor and kind: one row per day, model or
 * source, dollars as fixed-point decimal strings (cents for money collected, micro-dollars for
 * usage), so a spreadsheet's sums are the panel's to the cent and the micro-dollar.
 */
import type { MoneyView } from '../engine/reads/money.ts';

export const MONEY_CSV_BY = ['day', 'model', 'source'] as const;
export type MoneyCsvBy = (typeof MONEY_CSV_BY)[number];

/** Cents as dollars with two decimals: 1050 → "10.50". */
export function centsDecimal(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** Micro-dollars as dollars with six decimals: 1_500_000 → "1.500000". */
export function microsDecimal(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  return `${sign}${Math.floor(abs / 1_000_000)}.${String(abs % 1_000_000).padStart(6, '0')}`;
}

const COLLECTED = ['payments', 'paid_usd', 'refunded_usd', 'disputed_usd', 'collected_usd'];
const USAGE = ['usage_calls', 'input_tokens', 'output_tokens', 'usage_charged_usd', 'usage_refunded_usd', 'usage_value_usd', 'provider_cost_usd', 'margin_usd'];

type CollectedFigures = MoneyView['total']['collected'];
type UsageFigures = MoneyView['total']['usage'];

const collected = (c: CollectedFigures) => [c.payments, centsDecimal(c.paidCents), centsDecimal(c.refundedCents), centsDecimal(c.disputedCents), centsDecimal(c.netCents)];
const usage = (u: UsageFigures) => [
  u.events, u.inputTokens, u.outputTokens, microsDecimal(u.chargedMicros), microsDecimal(u.refundedMicros), microsDecimal(u.valueMicros), microsDecimal(u.costMicros),
  microsDecimal(u.marginMicros),
];

/**
 * A text cell as a spreadsheet reads it: quoted where it holds a comma, a quote or a line break,
 * and a formula's first character (= + - @, a tab or a return) made text with a leading ', so that
 * a model id an app sent (say "=HYPERLINK(…)") is never run when the owner opens the file.
 */
const quote = (s: string) => {
  const text = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

export function moneyCsv(view: MoneyView, by: MoneyCsvBy): string {
  const table: (string | number)[][] =
    by === 'day'
      ? [['day', ...COLLECTED, ...USAGE], ...view.days.map((d) => [d.day, ...collected(d.collected), ...usage(d.usage)])]
      : by === 'model'
        ? [['model', ...USAGE], ...view.models.map((m) => [quote(m.model), ...usage(m)])]
        : [['processor', 'kind', ...COLLECTED], ...view.sources.map((s) => [quote(s.processor), s.kind, ...collected(s)])];
  return `${table.map((row) => row.join(',')).join('\n')}\n`;
}
