/**
 * What was used: by day over the last 7, 30 or 90 days (a uPlot chart billing.js draws; htmx
 * swaps the section for another range, a plain link without it), by model (bars of each one's
 * share), and the last calls with what each cost.
 */
import { tokens } from '../../admin/format.ts';
import { amount, when } from '../money.ts';
import { pageUrl, type BillingSession } from '../session.ts';
import { USAGE_RANGES, type UsageView } from '../view.ts';
import type { RecentCall } from '../recent-calls.ts';

/**
 * The chart's data: each day (seconds at its midnight, UTC-labelled) and its value in micro-dollars;
 * the unit to draw it in; and each day's amount as the page says it, for the legend under the chart.
 */
function chartData({ byDay, display }: UsageView): string {
  return JSON.stringify({
    x: byDay.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000),
    micros: byDay.map((d) => d.valueMicros),
    shown: byDay.map((d) => amount(d.valueMicros, display)),
    unit: display.displayUnit,
    creditMicros: display.creditValueMicros,
  });
}

/** A model's part of the range's usage: "85%", or "<1%" for a sliver. */
function share(part: number, total: number): string {
  const percent = Math.round((part / total) * 100);
  return percent === 0 && part > 0 ? '<1%' : `${percent}%`;
}

/**
 * The ranges to switch to: each a link to the page at it, which htmx turns into a swap of this
 * section. Each has an id, by which htmx puts the focus back on the one chosen in the new section.
 */
function Ranges({ days, session }: { days: number; session: BillingSession }) {
  return (
    <nav class="ranges" aria-label="Range">
      {USAGE_RANGES.map((d) => (
        <a
          id={`range-${d}`} href={`${pageUrl(session, '', { days: String(d) })}#usage`} class={d === days ? 'current' : undefined} aria-current={d === days ? 'true' : undefined}
          hx-get={pageUrl(session, '/usage', { days: String(d) })} hx-target="#usage" hx-swap="outerHTML" hx-push-url={pageUrl(session, '', { days: String(d) })}
        >
          {d} days
        </a>
      ))}
    </nav>
  );
}

/** "Mar 9", for a day's 'YYYY-MM-DD', as the chart labels it. */
const dayLabel = (day: string) => new Date(`${day}T00:00:00Z`).toLocaleDateString('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });

/** The chart in words, for a screen reader (a canvas says nothing): each day with usage and its amount. */
function DayTable({ usage }: { usage: UsageView }) {
  return (
    <table class="sr-only" id="usage-by-day">
      <caption>Usage on each day with any</caption>
      <thead>
        <tr>
          <th>Day</th>
          <th>Usage</th>
        </tr>
      </thead>
      <tbody>
        {usage.byDay
          .filter((d) => d.valueMicros !== 0)
          .map((d) => (
            <tr>
              <td>{dayLabel(d.day)}</td>
              <td>{amount(d.valueMicros, usage.display)}</td>
            </tr>
          ))}
      </tbody>
    </table>
  );
}

export function UsageSection({ usage }: { usage: UsageView }) {
  const { byModel, calls, display, timeZone, member, days, session } = usage;
  // The viewer's own calls are theirs; a member is named as the account capped them, else by the host app's id for them.
  const who = (call: RecentCall) => (call.userId === null ? '—' : call.userId === session.userId ? 'You' : call.userName ?? call.userId);
  const total = byModel.reduce((sum, r) => sum + r.valueMicros - r.refundedMicros, 0);
  const most = Math.max(1, ...byModel.map((r) => r.valueMicros - r.refundedMicros));
  return (
    <section id="usage" class="card">
      <div class="section-head">
        <h2>Usage, last {days} days</h2>
        <Ranges days={days} session={usage.session} />
      </div>
      <p class="muted" data-figure="usage-total">
        {amount(total, display)} in all{member ? ', by the whole team' : ''}.
      </p>
      {total === 0 ? (
        <p class="muted">No usage yet.</p>
      ) : (
        <>
          <h3>By day</h3>
          <div class="chart" id="usage-chart" aria-hidden="true" data-series={chartData(usage)}></div>
          <DayTable usage={usage} />
          <h3>By model</h3>
          <table class="list bars" id="by-model">
            <tbody>
              {byModel.map((r) => (
                <tr>
                  <td>
                    {r.key}
                    <small class="muted">
                      {' '}
                      · {share(r.valueMicros - r.refundedMicros, total)}, {r.events.toLocaleString('en-US')} {r.events === 1 ? 'call' : 'calls'}, {tokens(r.inputTokens + r.outputTokens, true)} tokens
                    </small>
                    {/* A picture of the share the words before it say: a screen reader would read it as an unnamed bar of micro-dollars. */}
                    <progress max={most} value={r.valueMicros - r.refundedMicros} aria-hidden="true"></progress>
                  </td>
                  <td class="num">{amount(r.valueMicros - r.refundedMicros, display)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {calls.length === 0 ? null : (
        <>
          <h3>{member ? 'Your last calls' : 'Last calls'}</h3>
          <table class="list" id="last-calls">
            <thead>
              <tr>
                <th>When</th>
                <th>Model</th>
                {member ? null : <th class="wide">Who</th>}
                <th class="num wide">Tokens in / out</th>
                <th class="num">Cost</th>
              </tr>
            </thead>
            <tbody>
              {calls.map((call) => (
                <tr>
                  <td>{when(call.occurredAt, timeZone)}</td>
                  <td>{call.model}</td>
                  {member ? null : <td class="wide">{who(call)}</td>}
                  <td class="num wide">
                    {tokens(call.inputTokens)} / {tokens(call.outputTokens)}
                  </td>
                  <td class="num">
                    {amount(call.valueMicros - call.refundedMicros, display)}
                    {call.refundedMicros > 0 ? <small class="muted"> (refunded {amount(call.refundedMicros, display)})</small> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
