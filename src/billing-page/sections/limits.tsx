/**
 * Each limit as a bar of what is used (and held by calls in progress, said apart) of it, and when it resets:
 * the plan's day and month limits, the viewer's own cap, and under "Members' caps" the others'
 * (a member sees only their own), each named by the name the host app set the cap with, or by
 * its id for the member when it gave none, small above the member's caps, never as their title.
 */
import type { LimitView } from '../../engine/reads/reads.ts';
import { tokens } from '../../admin/format.ts';
import { amount, when, type Display } from '../money.ts';
import type { View } from '../view.ts';

function LimitBar({ limit, label, whose = label, display, timeZone }: { limit: LimitView; label: string; whose?: string; display: Display; timeZone: string }) {
  const used = limit.used + limit.held;
  const figure = (n: number) => (limit.unit === 'usd' ? amount(n, display) : `${tokens(n, true)} tokens`);
  const full = used >= limit.amount;
  // A progress whose max is 0 is drawn empty: a cap of 0, reached from the start, is drawn full.
  const max = Math.max(limit.amount, 1);
  return (
    <div class={full ? 'limit full' : 'limit'} data-limit={whose}>
      <div class="limit-head">
        <strong>{label}</strong>
        <span>
          {figure(used)} of {figure(limit.amount)}
        </span>
      </div>
      <progress max={max} value={full ? max : used} aria-label={`${whose}: ${figure(used)} of ${figure(limit.amount)}`}></progress>
      <small class="muted">
        {full ? 'Reached: ' : ''}resets {when(limit.resetsAt, timeZone)}
        {/* A limit counts what calls in progress hold, as the gate does: said, so that it is not read as spent. */}
        {limit.held > 0 ? ` · ${figure(limit.held)} of it held for calls in progress` : ''}
      </small>
    </div>
  );
}

const windowLabel = (l: LimitView) => (l.window === 'day' ? 'Today' : 'This month');

export function LimitsSection({ view }: { view: View }) {
  const { balance, session, display, account } = view;
  const capped = balance.members.filter((m) => m.limits.length > 0);
  const own = capped.find((m) => session.userId !== null && m.userId === session.userId);
  const others = session.role === 'member' ? [] : capped.filter((m) => m !== own);
  if (balance.limits.length === 0 && !own && others.length === 0) return null;
  const bar = (l: LimitView, label: string, whose?: string) => <LimitBar limit={l} label={label} whose={whose} display={display} timeZone={account.timeZone} />;
  return (
    <section id="limits" class="card">
      <h2>Limits</h2>
      {balance.limits.map((l) => bar(l, `${windowLabel(l)} (${balance.plan.name})`))}
      {own?.limits.map((l) => bar(l, `${windowLabel(l)} (your cap)`))}
      {others.length > 0 ? (
        <>
          <h3>Members' caps</h3>
          {others.map((m) => (
            <div class="member-caps" data-member={m.userId}>
              <small class="muted">{m.name ?? <>Member <code>{m.userId}</code></>}</small>
              {m.limits.map((l) => bar(l, windowLabel(l), `${windowLabel(l)}, cap of ${m.name ?? `member ${m.userId}`}`))}
            </div>
          ))}
        </>
      ) : null}
    </section>
  );
}
