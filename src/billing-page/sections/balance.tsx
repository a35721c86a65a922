/** What is left: the value available now, and each bucket it comes from with its expiry. */
import type { BucketSource } from '../../core/bucket.ts';
import { amount, when } from '../money.ts';
import type { View } from '../view.ts';

const SOURCE: Record<BucketSource, string> = {
  allowance: 'Plan allowance', pack: 'Credit pack', recharge: 'Auto-recharge', bonus: 'Bonus', refund: 'Refund', adjustment: 'Adjustment',
};

export function BalanceSection({ view }: { view: View }) {
  const { balance, display, account } = view;
  return (
    <section id="balance" class="card">
      <h2>Available</h2>
      <p class="big" data-figure="available">
        {amount(balance.availableMicros, display)}
      </p>
      {balance.heldMicros > 0 ? <p class="muted">{amount(balance.heldMicros, display)} is held for calls in progress.</p> : null}
      {balance.debtMicros > 0 ? (
        <p class="error" data-figure="debt">
          {amount(balance.debtMicros, display)} is owed: calls are refused until it is paid (a credit pack pays it first).
        </p>
      ) : null}
      {balance.buckets.length === 0 ? (
        <p class="muted">Nothing left to spend.</p>
      ) : (
        <table class="list" id="buckets">
          <thead>
            <tr>
              <th>From</th>
              <th class="num">Left</th>
              <th>Expires</th>
            </tr>
          </thead>
          <tbody>
            {balance.buckets.map((b) => (
              <tr>
                <td>
                  {SOURCE[b.source]}
                  {b.usable ? null : <small class="muted"> · not spent on this plan</small>}
                </td>
                <td class="num">
                  {amount(b.remainingMicros, display)}
                  <small class="muted"> of {amount(b.amountMicros, display)}</small>
                </td>
                <td>{b.expiresAt ? when(b.expiresAt, account.timeZone) : 'Never'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
