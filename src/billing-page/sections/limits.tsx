/**
 * Each limit as a bar of what is used (and held by calls in progress) of it, and when it resets:
 * the plan's day and month limits, and member caps (a member sees only their own).
 */
import type { LimitView } from '../../engine/reads/reads.ts';
import { tokens } from '../../admin/format.ts';
import { amount, when, type Display } from '../money.ts';
import type { View } from '../view.ts';

function LimitBar({ limit, label, display, timeZone }: { limit: LimitView; label: string; display: Display; timeZone: string }) {
  const used = limit.used + limit.held;
  const figure = (n: number) => (limit.unit === 'usd' ? amount(n, display) : `${tokens(n, true)} tokens`);
  const full = used >= limit.amount;
  return (
    <div class={full ? 'limit full' : 'limit'} data-limit={`${label}`}>
      <div class="limit-head">
        <strong>{label}</strong>
        <span>
          {figure(used)} of {figure(limit.amount)}
        </span>
      </div>
      <progress max={limit.amount} value={Math.min(used, limit.amount)} aria-label={`${label}: ${figure(used)} of ${figure(limit.amount)}`}></progress>
      <small class="muted">
        {full ? 'Reached: ' : ''}resets {when(limit.resetsAt, timeZone)}
      </small>
    </div>
  );
}

const windowLabel = (l: LimitView) => (l.window === 'day' ? 'Today' : 'This month');

export function LimitsSection({ view }: { view: View }) {
  const { balance, session, display, account } = view;
  const members = session.role === 'member' ? balance.members.filter((m) => m.userId === session.userId) : balance.members;
  if (balance.limits.length === 0 && members.every((m) => m.limits.length === 0)) return null;
  return (
    <section id="limits" class="card">
      <h2>Limits</h2>
      {balance.limits.map((l) => (
        <LimitBar limit={l} label={`${windowLabel(l)} (${balance.plan.name})`} display={display} timeZone={account.timeZone} />
      ))}
      {members.map((m) =>
        m.limits.map((l) => (
          <LimitBar limit={l} label={`${windowLabel(l)} (${m.userId === session.userId ? 'your cap' : `cap of ${m.userId}`})`} display={display} timeZone={account.timeZone} />
        )),
      )}
    </section>
  );
}
