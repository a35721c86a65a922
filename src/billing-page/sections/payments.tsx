/** What was paid, newest first, and what refunds and disputes gave back of each payment. */
import { cents } from '../../admin/format.ts';
import { when } from '../money.ts';
import type { View } from '../view.ts';

export function PaymentsSection({ view }: { view: View }) {
  if (!view.canAct) return null;
  const { payments, account, names, planPrices } = view;
  const item = (p: (typeof payments)[number]) => (p.item === null ? '' : (names[p.kind === 'pack' ? 'pack' : 'plan'].get(p.item) ?? p.item));
  // A month of the plan at its price; any other amount paid for it (the difference a change of plan
  // charged, or nothing when a downgrade's credit covered it) is no month's price.
  const forPlan = (p: (typeof payments)[number]) => `${item(p)} plan${p.item !== null && planPrices.get(p.item) === p.amountCents ? ', a month' : ''}`;
  return (
    <section id="payments" class="card">
      <h2>Payments</h2>
      {payments.length === 0 ? (
        <p class="muted">No payment yet.</p>
      ) : (
        <table class="list">
          <thead>
            <tr>
              <th>When</th>
              <th>For</th>
              <th class="num">Paid</th>
            </tr>
          </thead>
          <tbody>
            {payments.map((p) => (
              <tr data-payment={p.reference}>
                <td>{when(p.createdAt, account.timeZone)}</td>
                <td>
                  {p.kind === 'pack' ? item(p) : forPlan(p)}
                  {p.recharge ? (
                    <div class="muted" data-recharge>
                      Auto-recharge{p.recharge.debtCents > 0 ? `, with ${cents(p.recharge.debtCents)} you owed` : ''}
                    </div>
                  ) : null}
                  {p.refunds.map((r) => (
                    <div class="refund" data-refund={r.reference}>
                      {r.kind === 'dispute_won' ? 'Dispute won' : `${r.kind === 'dispute' ? 'Disputed' : 'Refunded'} ${cents(r.appliedCents)}`}, {when(r.createdAt, account.timeZone)}
                      {r.reversedAt ? ' (failed at the processor: taken back)' : ''}
                    </div>
                  ))}
                </td>
                <td class="num">
                  {cents(p.amountCents)}
                  {p.refundedCents > 0 ? <small class="muted"> ({cents(p.refundedCents)} back)</small> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
