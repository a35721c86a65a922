/**
 * Analytics: revenue (usage value charged), refunds, provider cost and margin over a range of
 * days, by day (a uPlot chart and a table) and by model, and the same as CSV.
 */
import type { AnalyticsRow } from '../../engine/reads/admin-reads.ts';
import type { Billing } from '../../engine/billing.ts';
import { date, percent, plainDollars, tokens, usd } from '../format.ts';
import { attempt, ErrorNote, Field, render, type AdminContext, type Page } from '../layout.tsx';

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

const marginPercent = (r: AnalyticsRow) => {
  const net = r.valueMicros - r.refundedMicros;
  return net > 0 ? percent(Math.round((r.marginMicros / net) * 10_000)) : '—';
};

function Figures({ rows, keyLabel, total }: { rows: AnalyticsRow[]; keyLabel: string; total: AnalyticsRow }) {
  return (
    <table class="grid">
      <thead>
        <tr>
          <th>{keyLabel}</th>
          <th class="num">Calls</th>
          <th class="num">Tokens in / out</th>
          <th class="num">Revenue</th>
          <th class="num">Refunded</th>
          <th class="num">Provider cost</th>
          <th class="num">Margin</th>
          <th class="num">Margin %</th>
          {keyLabel === 'Model' ? <th>Share of revenue</th> : null}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr class={r.events === 0 ? 'inactive' : undefined}>
            <td>{keyLabel === 'Model' ? <code>{r.key}</code> : r.key}</td>
            <td class="num">{r.events.toLocaleString('en-US')}</td>
            <td class="num">
              {tokens(r.inputTokens, true)} / {tokens(r.outputTokens, true)}
            </td>
            <td class="num">{usd(r.valueMicros)}</td>
            <td class="num">{r.refundedMicros ? usd(r.refundedMicros) : '—'}</td>
            <td class="num">{usd(r.costMicros)}</td>
            <td class={r.marginMicros < 0 ? 'num debit' : 'num'}>{usd(r.marginMicros)}</td>
            <td class="num">{marginPercent(r)}</td>
            {keyLabel === 'Model' ? (
              <td>
                <meter min={0} max={Math.max(1, total.valueMicros)} value={r.valueMicros}></meter>
              </td>
            ) : null}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Dollars as a number for the chart (display only). */
const chartDollars = (micros: number) => Math.round(micros / 100) / 10_000;

export const analyticsPage: Page = (admin, billing) => {
  admin.get('/analytics', async (c) => {
    const range = rangeOf(c, billing);
    const result = await attempt(() => billing.admin.analytics(range.query));
    const csv = (by: string) => `/admin/analytics.csv?${new URLSearchParams({ from: range.from, to: range.to, by })}`;
    const rangeForm = (
      <form method="get" action="/admin/analytics" class="inline range">
        <Field label="From" name="from" type="date" value={range.from} />
        <Field label="To" name="to" type="date" value={range.to} />
        <button type="submit">Show</button>
        {result.ok ? (
          <span class="exports">
            CSV: <a href={csv('day')}>by day</a> · <a href={csv('model')}>by model</a>
          </span>
        ) : null}
      </form>
    );
    if (!result.ok) return render(c, { title: 'Analytics', status: 422, body: <>{rangeForm}<ErrorNote error={result.error} /></> });
    const { byDay, byModel, total } = result.value;
    const series = {
      x: byDay.map((d) => Date.parse(`${d.key}T00:00:00Z`) / 1000),
      revenue: byDay.map((d) => chartDollars(d.valueMicros - d.refundedMicros)),
      cost: byDay.map((d) => chartDollars(d.costMicros)),
      margin: byDay.map((d) => chartDollars(d.marginMicros)),
    };
    return render(c, {
      title: 'Analytics',
      scripts: ['/admin/assets/uPlot.min.js', '/admin/assets/admin.js'],
      styles: ['/admin/assets/uPlot.min.css'],
      body: (
        <>
          {rangeForm}
          <div class="tiles">
            <div class="tile">
              <span>Revenue (value charged)</span>
              <strong data-figure="revenue">{usd(total.valueMicros)}</strong>
              <small>{total.refundedMicros ? `${usd(total.refundedMicros)} refunded` : 'nothing refunded'}</small>
            </div>
            <div class="tile">
              <span>Provider cost</span>
              <strong data-figure="cost">{usd(total.costMicros)}</strong>
            </div>
            <div class="tile">
              <span>Margin</span>
              <strong data-figure="margin">{usd(total.marginMicros)}</strong>
              <small>{marginPercent(total)} of revenue after refunds</small>
            </div>
            <div class="tile">
              <span>Calls</span>
              <strong>{total.events.toLocaleString('en-US')}</strong>
              <small>
                {tokens(total.inputTokens, true)} tokens in, {tokens(total.outputTokens, true)} out
              </small>
            </div>
          </div>
          <section class="card">
            <h2>By day (UTC)</h2>
            <div class="chart" id="daily-chart" data-series={JSON.stringify(series)} aria-label="Revenue after refunds, provider cost and margin by day"></div>
          </section>
          <h2>By model</h2>
          {byModel.length ? <Figures rows={byModel} keyLabel="Model" total={total} /> : <p class="muted">No usage in this range.</p>}
          <details>
            <summary>By day, as a table</summary>
            <Figures rows={byDay} keyLabel="Day" total={total} />
          </details>
        </>
      ),
    });
  });

  admin.get('/analytics.csv', async (c) => {
    const range = rangeOf(c, billing);
    const by = c.req.query('by') === 'model' ? 'model' : 'day';
    const result = await attempt(() => billing.admin.analytics(range.query));
    if (!result.ok) return c.text(result.error, 400);
    const rows = by === 'model' ? result.value.byModel : result.value.byDay;
    const quote = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
    const lines = [
      [by, 'calls', 'input_tokens', 'output_tokens', 'revenue_usd', 'refunded_usd', 'provider_cost_usd', 'margin_usd'].join(','),
      ...rows.map((r) =>
        [quote(r.key), r.events, r.inputTokens, r.outputTokens, plainDollars(r.valueMicros), plainDollars(r.refundedMicros), plainDollars(r.costMicros), plainDollars(r.marginMicros)].join(','),
      ),
    ];
    return c.body(`${lines.join('\n')}\n`, 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="tollgate-${by}-${range.from}-to-${range.to}.csv"`,
    });
  });
};
