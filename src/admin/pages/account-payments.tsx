/**
 * An account's payments on its admin page: each pack bought and period paid, newest first, with
 * what refunds and disputes gave back of it, a Refund button, and the flag of an account that
 * disputed a payment. The button opens a page that says what the refund will do and asks to
 * confirm; confirmed, the refund goes through the processor the payment was made with, once per
 * the form's key, and its value comes out of the account when the processor says it is done (at
 * once, or with its webhook).
 */
import type { Billing } from '../../engine/billing.ts';
import type { PaymentView } from '../../engine/reads/payments.ts';
import type { Account } from '../../engine/rows.ts';
import { cents, dateTime, usd } from '../format.ts';
import { centsField, effectKey, readForm } from '../form.ts';
import { attempt, Csrf, done, EffectKey, ErrorNote, Field, notFoundPage, render, type AdminApp, type AdminContext } from '../layout.tsx';

const accountPath = (id: string) => `/admin/accounts/${encodeURIComponent(id)}`;
const refundPath = (accountId: string, paymentId: number) => `${accountPath(accountId)}/payments/${paymentId}/refund`;

const KIND: Record<PaymentView['refunds'][number]['kind'], string> = { refund: 'Refund', dispute: 'Dispute', dispute_won: 'Dispute won' };

/** What a payment was for, in words. */
/** What it paid for; an auto-recharge says so, and what of it paid what the account owed. */
const what = (p: PaymentView) =>
  `${p.kind === 'pack' ? (p.recharge ? 'Auto-recharge of pack' : 'Pack') : 'Period of'} ${p.item ?? '(removed)'}${p.recharge?.debtCents ? `, with ${cents(p.recharge.debtCents)} owed` : ''}`;

/** The account's payments, newest first: what each was for, what refunds and disputes gave back of it, and a Refund button while something is left. */
export async function accountPaymentsSection(billing: Billing, account: Account) {
  const payments = await billing.payments(account.id);
  return (
    <section class="account-payments" id="account-payments">
      <h2>Payments</h2>
      {account.disputedAt ? (
        <p class="error" role="note" data-flag="disputed">
          Disputed a payment on {dateTime(account.disputedAt)} UTC (a chargeback).
        </p>
      ) : null}
      {payments.length === 0 ? (
        <p class="muted">No payment yet.</p>
      ) : (
        <table class="grid payments">
          <thead>
            <tr>
              <th>When (UTC)</th>
              <th>For</th>
              <th>Processor</th>
              <th class="num">Paid</th>
              <th class="num">Given back</th>
              <th>Refunds and disputes</th>
            </tr>
          </thead>
          <tbody>
            {payments.map((p) => (
              <tr data-payment={p.reference}>
                <td>{dateTime(p.createdAt)}</td>
                <td>{what(p)}</td>
                <td>
                  {p.processor}
                  <br />
                  <small class="muted">{p.reference}</small>
                </td>
                <td class="num">{cents(p.amountCents)}</td>
                <td class="num">{p.refundedCents ? cents(p.refundedCents) : '—'}</td>
                <td>
                  {p.refunds.map((r) => (
                    <div data-refund={r.reference}>
                      {KIND[r.kind]} {r.kind === 'dispute_won' ? '' : cents(r.appliedCents)}
                      <small class="muted">
                        {r.removedMicros ? ` · ${usd(r.removedMicros)} unused taken back` : ''}
                        {r.usedMicros ? ` · ${usd(r.usedMicros)} used, ${r.usedValue === 'debt' ? 'owed' : 'written off'}` : ''}
                        {r.reversedAt ? ' · failed at the processor: given back' : ''}
                      </small>
                    </div>
                  ))}
                  {p.refundedCents < p.amountCents ? (
                    <a class="button secondary" href={refundPath(account.id, p.id)}>
                      Refund…
                    </a>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

async function confirmPage(c: AdminContext, billing: Billing, accountId: string, paymentId: number, error?: { message: string; amount: string; key?: string | undefined }) {
  const payment = (await billing.payments(accountId)).find((p) => p.id === paymentId);
  if (!payment) return notFoundPage(c);
  const left = payment.amountCents - payment.refundedCents;
  const { refundUsedValue } = await billing.admin.getSettings();
  const effect =
    payment.kind === 'pack'
      ? `The pack's own bucket gives back its unused value, up to the refund's share of it; of the share already spent, the account ${refundUsedValue === 'debt' ? 'owes the rest (its next purchase pays it)' : 'owes nothing (it is written off)'}.`
      : 'The allowance of the period it paid gives back its unused value, up to the refund\'s share of it. The subscription goes on and renews as before: to end it, cancel it from the account\'s page.';
  return render(c, {
    title: `Refund ${what(payment).toLowerCase()}`,
    status: error ? 422 : 200,
    body: (
      <section class="card">
        <p>
          {cents(payment.amountCents)} paid through <strong>{payment.processor}</strong> on {dateTime(payment.createdAt)} UTC ({payment.reference})
          {payment.refundedCents ? `, ${cents(payment.refundedCents)} of it refunded already` : ''}.
        </p>
        <p>{effect} The money goes back to the customer through {payment.processor}; its value comes out of the account when {payment.processor} says the refund is done.</p>
        <form method="post" action={refundPath(accountId, paymentId)} class="form" id="payment-refund">
          <Csrf token={c.get('csrf')} />
          <EffectKey value={error?.key} />
          <Field label="Amount ($)" name="amount" value={error?.amount ?? (left / 100).toFixed(2)} step="0.01" required hint={`At most ${cents(left)}.`} />
          <ErrorNote error={error?.message} />
          <button type="submit">Confirm refund</button> <a href={accountPath(accountId)}>Cancel</a>
        </form>
      </section>
    ),
  });
}

/** The confirm page and the refund it confirms. */
export function accountPaymentRoutes(admin: AdminApp, billing: Billing) {
  admin.get('/accounts/:id/payments/:paymentId/refund', (c) => confirmPage(c, billing, c.req.param('id'), Number(c.req.param('paymentId'))));

  admin.post('/accounts/:id/payments/:paymentId/refund', async (c) => {
    const id = c.req.param('id');
    const paymentId = Number(c.req.param('paymentId'));
    const form = await readForm(c);
    const result = await attempt(async () => billing.refundPayment(id, paymentId, { amountCents: centsField(form, 'amount', 'Amount') }, effectKey(form)));
    if (!result.ok) {
      // Unanswered, the refund may have been made: sent again, it asks for the same one. Refused, it was not: a new key, for another amount.
      const key = result.code === 'processor_error' && result.details?.unanswered === true ? form.idempotencyKey : undefined;
      return confirmPage(c, billing, id, paymentId, { message: result.error, amount: form.amount ?? '', key });
    }
    const { amountCents, status, refundRef } = result.value;
    return done(c, accountPath(id), status === 'refunded' ? `Refunded ${cents(amountCents)} (${refundRef}).` : `Refund of ${cents(amountCents)} asked (${refundRef}): its value comes out when the processor confirms it.`);
  });
}
