/**
 * An account's auto-recharge, on its admin page: the setting (the pack, the threshold, the
 * monthly caps), its state, why it turned itself off if it did (and what the customer can do),
 * and its latest recharges with what became of each.
 */
import type { Billing } from '../../engine/billing.ts';
import type { Balance } from '../../engine/reads/reads.ts';
import { cents, dateTime, usd } from '../format.ts';

/** How a state or a recharge's status is drawn: the panel's badge colours. */
const BADGE: Record<string, string> = {
  on: 'applied', succeeded: 'applied', off: 'failed', declined: 'failed', unanswered: 'failed', disabled: 'ignored', skipped: 'ignored', paused: 'duplicate',
  pending: 'duplicate', charging: 'duplicate', awaiting_payment: 'duplicate',
};
const badge = (state: string) => <span class={`badge outcome ${BADGE[state] ?? 'ignored'}`}>{state.replace('_', ' ')}</span>;

/** The section, drawn with the balance the account page read already. */
export async function autoRechargeSection(billing: Billing, accountId: string, balance: Balance) {
  const setting = balance.autoRecharge;
  const recharges = await billing.admin.recharges(accountId);
  return (
    <section class="auto-recharge" id="auto-recharge">
      <h2>Auto-recharge</h2>
      {setting === null ? (
        <p class="muted">Not set: the app turns it on with PUT /v1/accounts/{'{id}'}/auto-recharge.</p>
      ) : (
        <div class="card">
          <dl class="facts">
            <dt>State</dt>
            <dd data-figure="auto-recharge-state">
              {badge(setting.state)}
              {setting.recharging ? <small class="muted"> a recharge is in flight</small> : null}
              {setting.pausedUntil ? <small> until {dateTime(setting.pausedUntil)} (the next recharge would go past a monthly cap)</small> : null}
            </dd>
            {setting.off ? (
              <>
                <dt>Why it is off</dt>
                <dd data-figure="auto-recharge-off" class="owed">
                  {setting.off.message} <small class="muted">({setting.off.code}, {dateTime(setting.off.at)})</small>
                  <br />
                  <small class="muted">
                    {setting.off.code === 'no_payment_method'
                      ? 'The customer saves a card by buying a pack at checkout; then turn it on again.'
                      : setting.off.code === 'pack_unavailable'
                        ? 'Choose a pack the account can buy; then turn it on again.'
                        : 'The customer updates the card (or buys a pack); then turn it on again.'}
                  </small>
                </dd>
              </>
            ) : null}
            <dt>Buys</dt>
            <dd>
              the pack <strong>{setting.pack}</strong> when less than {usd(setting.thresholdMicros)} is available (plus any debt)
            </dd>
            <dt>Monthly caps</dt>
            <dd>
              {setting.monthlyMaxCount === null && setting.monthlyMaxMicros === null
                ? 'none'
                : [setting.monthlyMaxCount !== null ? `${setting.monthlyMaxCount} recharges` : null, setting.monthlyMaxMicros !== null ? usd(setting.monthlyMaxMicros) : null]
                    .filter(Boolean)
                    .join(', ')}
            </dd>
          </dl>
        </div>
      )}
      {recharges.length === 0 ? null : (
        <>
          <h3>Latest recharges</h3>
          <table class="grid" id="recharges">
            <thead>
              <tr>
                <th>Started</th>
                <th>Status</th>
                <th class="num">Charged</th>
                <th class="num">Of which debt</th>
                <th>Payment</th>
                <th class="num">Attempts</th>
                <th>Note</th>
              </tr>
            </thead>
            <tbody>
              {recharges.map((r) => (
                <tr>
                  <td>{dateTime(r.createdAt)}</td>
                  <td>{badge(r.status)}</td>
                  <td class="num">{r.amountCents === null ? '' : cents(r.amountCents)}</td>
                  <td class="num">{r.debtCents ? cents(r.debtCents) : ''}</td>
                  <td>
                    <small>{r.paymentRef ?? ''}</small>
                  </td>
                  <td class="num">{r.attempts}</td>
                  <td>
                    <small>{r.reason ?? ''}</small>
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
