/**
 * The money view: money collected through the processors beside what usage charged, its provider
 * cost and margin, over a range of UTC days — cards, two charts, tables by day, by processor and
 * kind and by model, and the same as CSV. Every figure comes from one read (billing.admin.analytics),
 * so the cards, the charts and the CSV cannot disagree.
 */
import type { MoneyView } from '../../engine/reads/money.ts';
import type { Billing } from '../../engine/billing.ts';
import { MICROS_PER_CENT } from '../../core/money.ts';
import { cents, date, percent, tokens, usd } from '../format.ts';
import { attempt, ErrorNote, Field, render, type AdminContext, type Page } from '../layout.tsx';
import { MONEY_CSV_BY, moneyCsv, type MoneyCsvBy } from '../money-csv.ts';

const DAY_MS = 86_400_000;
const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The range asked for, days inclusive (default: the last 30 days), and the read's [from, to). */
function rangeOf(c: AdminContext, billing: Billing) {
  const today = date(billing.now());
  const to = c.req.query('to')?.trim() || today;
  const end = Date.parse(`${ISO_DAY.test(to) ? to : today}T00:00:00Z`);
  const from = c.req.query('from')?.trim() || date(new Date((Number.isNaN(end) ? Date.parse(`${today}T00:00:00Z`) : end) - 29 * DAY_MS));
  const toExclusive = ISO_DAY.test(to) && !Number.isNaN(Date.parse(to)) ? date(new Date(Date.parse(to) + DAY_MS)) : to;
  return { from, to, query: { from, to: toExclusive } };
}

type Collected = MoneyView['total']['collected'];
type Usage = MoneyView['total']['usage'];

const dash = (micros: number, show: (n: number) => string = usd) => (micros ? show(micros) : '—');

/** Margin as a share of the usage value charged. */
const marginShare = (u: Usage) => (u.valueMicros > 0 ? percent(Math.round((u.marginMicros / u.valueMicros) * 10_000)) : '—');

const KIND_NAMES: Record<MoneyView['sources'][number]['kind'], string> = { subscription: 'Subscriptions', pack: 'Packs', recharge: 'Auto-recharges' };

function CollectedCells({ c }: { c: Collected }) {
  return (
    <>
      <td class="num">{c.payments || '—'}</td>
      <td class="num">{dash(c.paidCents, cents)}</td>
      <td class="num">{dash(c.refundedCents, cents)}</td>
      <td class="num">{dash(c.disputedCents, cents)}</td>
      <td class={c.netCents < 0 ? 'num debit' : 'num'}>
        <strong>{cents(c.netCents)}</strong>
      </td>
    </>
  );
}

function UsageCells({ u, calls = true }: { u: Usage; calls?: boolean }) {
  return (
    <>
      {calls ? <td class="num">{u.events.toLocaleString('en-US')}</td> : null}
      <td class="num">{usd(u.valueMicros)}</td>
      <td class="num">{dash(u.refundedMicros)}</td>
      <td class="num">{usd(u.costMicros)}</td>
      <td class={u.marginMicros < 0 ? 'num debit' : 'num'}>{usd(u.marginMicros)}</td>
      <td class="num">{marginShare(u)}</td>
    </>
  );
}

const COLLECTED_HEADS = ['Payments', 'Paid', 'Refunded', 'Disputed', 'Collected'];
// The value is net of usage refunds (as on the card): the refunds beside it were taken off it, not part of it.
const USAGE_HEADS = ['Usage value charged', 'Refunds taken off', 'Provider cost', 'Margin', 'Margin %'];

function Heads({ names }: { names: string[] }) {
  return (
    <>
      {names.map((n) => (
        <th class="num">{n}</th>
      ))}
    </>
  );
}

/** A chart's data: UTC days (seconds) and integer micro-dollars per series, which admin.js draws, and each day's amount as the page shows it (usd), for its legend. */
function chartOf(view: MoneyView, series: { label: string; color: string; of: (d: MoneyView['days'][number]) => number }[]) {
  return JSON.stringify({
    x: view.days.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000),
    series: series.map((s) => ({ label: s.label, color: s.color, micros: view.days.map(s.of), shown: view.days.map((d) => usd(s.of(d))) })),
  });
}

/** A chart drawn by admin.js, its title saying the total its days add up to; `empty` says why there is none. */
function Chart({ id, title, summary, data, empty }: { id: string; title: string; summary: string; data: string; empty?: string }) {
  return (
    <section class="card">
      <h2>
        {title} <small class="muted">— {summary}</small>
      </h2>
      {empty ? <p class="muted">{empty}</p> : <div class="chart" id={id} aria-label={title} data-series={data}></div>}
    </section>
  );
}

function MoneyPage({ view }: { view: MoneyView }) {
  const { collected, usage } = view.total;
  const refundedAndDisputed = collected.refundedCents + collected.disputedCents;
  return (
    <>
      <div class="tiles money">
        <div class="tile">
          <span>Money collected</span>
          <strong data-figure="collected">{cents(collected.netCents)}</strong>
          <small>
            {cents(collected.paidCents)} paid in {collected.payments} {collected.payments === 1 ? 'payment' : 'payments'}
            {refundedAndDisputed ? `, less ${cents(collected.refundedCents)} refunded and ${cents(collected.disputedCents)} disputed` : ''}
          </small>
        </div>
        <div class="tile">
          <span>Usage value charged</span>
          <strong data-figure="usage-value">{usd(usage.valueMicros)}</strong>
          <small>
            {usage.events.toLocaleString('en-US')} calls{usage.refundedMicros ? `; ${usd(usage.chargedMicros)} charged, less ${usd(usage.refundedMicros)} refunded` : ''}
          </small>
        </div>
        <div class="tile">
          <span>Provider cost</span>
          <strong data-figure="provider-cost">{usd(usage.costMicros)}</strong>
          <small>
            {tokens(usage.inputTokens, true)} tokens in, {tokens(usage.outputTokens, true)} out
          </small>
        </div>
        <div class="tile">
          <span>Margin</span>
          <strong data-figure="margin" class={usage.marginMicros < 0 ? 'debit' : undefined}>
            {usd(usage.marginMicros)}
          </strong>
          <small>{marginShare(usage)} of the usage value charged</small>
        </div>
      </div>
      <p class="muted lead money-terms">
        Money collected is what the processors took, less refunds and disputes (a dispute won gives back what it took), on the day each happened. Usage value charged is what
        usage drew from accounts’ allowances, packs and credit, less usage refunds, on the day of the usage; margin is that value less
        the provider’s cost. Days are UTC; amounts here are to the cent from a dollar up and to three significant digits below ($0.0315), and exact in the CSV.
      </p>

      <Chart
        id="collected-chart"
        title="Money collected by day"
        summary={`${cents(collected.netCents)} in all`}
        empty={collected.payments === 0 && refundedAndDisputed === 0 ? 'No payments, refunds or disputes in this range.' : undefined}
        data={chartOf(view, [
          { label: 'Paid', color: '#2563eb', of: (d) => d.collected.paidCents * MICROS_PER_CENT },
          { label: 'Refunded and disputed', color: '#dc2626', of: (d) => (d.collected.refundedCents + d.collected.disputedCents) * MICROS_PER_CENT },
          { label: 'Collected', color: '#16a34a', of: (d) => d.collected.netCents * MICROS_PER_CENT },
        ])}
      />
      <Chart
        id="usage-chart"
        title="Usage by day"
        summary={`${usd(usage.valueMicros)} charged, ${usd(usage.costMicros)} provider cost, ${usd(usage.marginMicros)} margin`}
        empty={usage.events === 0 ? 'No usage in this range.' : undefined}
        data={chartOf(view, [
          { label: 'Usage value charged', color: '#7c3aed', of: (d) => d.usage.valueMicros },
          { label: 'Provider cost', color: '#dc2626', of: (d) => d.usage.costMicros },
          { label: 'Margin', color: '#16a34a', of: (d) => d.usage.marginMicros },
        ])}
      />

      <h2>Money collected by processor and kind</h2>
      {view.sources.length ? (
        <table class="grid" id="by-source">
          <thead>
            <tr>
              <th>Processor</th>
              <th>Kind</th>
              <Heads names={COLLECTED_HEADS} />
            </tr>
          </thead>
          <tbody>
            {view.sources.map((s) => (
              <tr data-source={`${s.processor}:${s.kind}`}>
                <td>{s.processor}</td>
                <td>{KIND_NAMES[s.kind]}</td>
                <CollectedCells c={s} />
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No payments in this range.</p>
      )}

      <h2>Usage by model</h2>
      {view.models.length ? (
        <table class="grid" id="by-model">
          <thead>
            <tr>
              <th>Model</th>
              <th class="num">Calls</th>
              <th class="num">Tokens in / out</th>
              <Heads names={USAGE_HEADS} />
            </tr>
          </thead>
          <tbody>
            {view.models.map((m) => (
              <tr data-model={m.model}>
                <td>
                  <code>{m.model}</code>
                </td>
                <td class="num">{m.events.toLocaleString('en-US')}</td>
                <td class="num">
                  {tokens(m.inputTokens, true)} / {tokens(m.outputTokens, true)}
                </td>
                <UsageCells u={m} calls={false} />
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No usage in this range.</p>
      )}

      <details class="days">
        <summary>
          <h2>By day, as a table</h2>
        </summary>
        <table class="grid days" id="by-day">
          <thead>
            <tr>
              <th>Day (UTC)</th>
              <Heads names={[...COLLECTED_HEADS, 'Calls', ...USAGE_HEADS]} />
            </tr>
          </thead>
          <tbody>
            {view.days.map((d) => (
              <tr data-day={d.day} class={d.collected.payments === 0 && d.usage.events === 0 && d.collected.netCents === 0 ? 'inactive' : undefined}>
                <td>{d.day}</td>
                <CollectedCells c={d.collected} />
                <UsageCells u={d.usage} />
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr data-day="total">
              <th>Total</th>
              <CollectedCells c={collected} />
              <UsageCells u={usage} />
            </tr>
          </tfoot>
        </table>
      </details>
    </>
  );
}

export const analyticsPage: Page = (admin, billing) => {
  admin.get('/analytics', async (c) => {
    const range = rangeOf(c, billing);
    const result = await attempt(() => billing.admin.analytics(range.query));
    const csv = (by: MoneyCsvBy) => `/admin/analytics.csv?${new URLSearchParams({ from: range.from, to: range.to, by })}`;
    const rangeForm = (
      <form method="get" action="/admin/analytics" class="inline range">
        <Field label="From" name="from" type="date" value={range.from} />
        <Field label="To" name="to" type="date" value={range.to} />
        <button type="submit">Show</button>
        {result.ok ? (
          <span class="exports">
            CSV: <a href={csv('day')}>by day</a> · <a href={csv('source')}>by processor</a> · <a href={csv('model')}>by model</a>
          </span>
        ) : null}
      </form>
    );
    if (!result.ok) return render(c, { title: 'Money', status: 422, body: <>{rangeForm}<ErrorNote error={result.error} /></> });
    return render(c, {
      title: 'Money',
      scripts: ['/admin/assets/uPlot.min.js', '/admin/assets/admin.js'],
      styles: ['/admin/assets/uPlot.min.css'],
      body: (
        <>
          {rangeForm}
          <MoneyPage view={result.value} />
        </>
      ),
    });
  });

  admin.get('/analytics.csv', async (c) => {
    const range = rangeOf(c, billing);
    const asked = c.req.query('by') ?? 'day';
    const by = (MONEY_CSV_BY as readonly string[]).includes(asked) ? (asked as MoneyCsvBy) : 'day';
    const result = await attempt(() => billing.admin.analytics(range.query));
    if (!result.ok) return c.text(result.error, 400);
    return c.body(moneyCsv(result.value, by), 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="tollgate-money-by-${by}-${range.from}-to-${range.to}.csv"`,
    });
  });
};
