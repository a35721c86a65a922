/**
 * Under an account's ledger: what all its entries add up to, and each line from that sum to what
 * it has available (billing.admin.ledgerTotals), so the two figures reconcile on the page: value
 * expired and not written off yet (expireCredit writes it off a week after), value this plan may
 * not spend, what calls in progress hold, and this period's allowance that the next call opens.
 */
import type { LedgerTotals } from '../../engine/reads/ledger-totals.ts';
import { dateTime, usd } from '../format.ts';

export function LedgerTotalsTable({ totals, entries }: { totals: LedgerTotals; entries: number }) {
  const lines: { label: string; amount: number; key: string }[] = [
    ...totals.pendingWriteOffs.map((w) => ({
      key: `write-off-${w.bucketId}`,
      label: `${w.source} #${w.bucketId} expired ${dateTime(w.expiresAt)} UTC: to be written off (an expiry entry a week after)`,
      amount: -w.amountMicros,
    })),
    ...(totals.unspendableMicros ? [{ key: 'unspendable', label: 'In buckets this plan may not spend, or that start later', amount: -totals.unspendableMicros }] : []),
    ...(totals.heldMicros ? [{ key: 'held', label: 'Held by calls in progress', amount: -totals.heldMicros }] : []),
    ...(totals.pendingAllowanceMicros ? [{ key: 'allowance', label: "This period's allowance, opened by the next call", amount: totals.pendingAllowanceMicros }] : []),
  ];
  const sum = totals.ledgerMicros + lines.reduce((total, l) => total + l.amount, 0);
  return (
    <table class="grid ledger-totals" id="ledger-totals">
      <tbody>
        <tr data-line="ledger">
          <td>
            Sum of the ledger{entries > 0 ? <small class="muted"> (every entry, not only those listed above)</small> : null}
          </td>
          <td class="num">{usd(totals.ledgerMicros)}</td>
        </tr>
        {lines.map((l) => (
          <tr data-line={l.key}>
            <td>{l.label}</td>
            <td class={l.amount < 0 ? 'num debit' : 'num'}>
              {l.amount < 0 ? '−' : '+'}
              {usd(Math.abs(l.amount))}
            </td>
          </tr>
        ))}
        <tr data-line="available" class="total">
          <th>
            Available
            {sum < 0 ? (
              // The sum below zero is the debt and what calls in progress hold: only the debt is owed.
              <small class="muted"> ({totals.debtMicros > 0 ? `the account owes ${usd(totals.debtMicros)}` : 'calls in progress hold more than is left'}: nothing is available)</small>
            ) : null}
          </th>
          <th class="num">{usd(totals.availableMicros)}</th>
        </tr>
      </tbody>
    </table>
  );
}
