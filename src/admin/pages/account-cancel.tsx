/**
 * Canceling an account's paid plan at its period's end, from the account page: a page that says
 * what will happen (the account, its plan, when it ends, the plan it then falls back to) and asks
 * to confirm; confirmed, billing.cancel, once per the form's key. The account keeps its plan to
 * the period's end, then moves to the default plan (terms.ts applyPlanEnd).
 */
import type { Billing } from '../../engine/billing.ts';
import { includedMicros } from '../../core/plan.ts';
import { cents, dateTime, limitsText, value } from '../format.ts';
import { effectKey, readForm } from '../form.ts';
import { attempt, Csrf, done, EffectKey, ErrorNote, render, type AdminApp, type AdminContext } from '../layout.tsx';

const accountPath = (id: string) => `/admin/accounts/${encodeURIComponent(id)}`;
const cancelPath = (id: string) => `${accountPath(id)}/cancel`;

/** The account page's action: a link to the confirmation page. */
export function CancelLink({ accountId }: { accountId: string }) {
  return (
    <a class="button secondary" href={cancelPath(accountId)} id="cancel-link">
      Cancel at period end…
    </a>
  );
}

async function confirmPage(c: AdminContext, billing: Billing, accountId: string, error?: string) {
  const account = await billing.getAccount(accountId);
  const balance = await billing.balance(accountId);
  const settings = await billing.admin.getSettings();
  const fallback = (await billing.admin.listPlans()).find((p) => p.id === settings.defaultPlanId);
  const { plan, period } = balance;
  if (plan.priceCents === 0 || (account.planEndsAt && account.planEndsAt > billing.now())) {
    return render(c, {
      title: 'Nothing to cancel',
      status: 409,
      body: (
        <p class="error">
          {accountId} has no paid plan renewing to cancel{account.planEndsAt ? `: ${plan.name} ends ${dateTime(account.planEndsAt)} UTC already` : ''}.{' '}
          <a href={accountPath(accountId)}>Back to the account</a>
        </p>
      ),
    });
  }
  return render(c, {
    title: `Cancel ${plan.name} for ${accountId}`,
    status: error ? 422 : 200,
    body: (
      <section class="card" id="cancel-confirm">
        <p>
          <strong data-account={accountId}>{accountId}</strong> is on <strong data-plan={plan.slug}>{plan.name}</strong> ({cents(plan.priceCents)} a month,{' '}
          {value(includedMicros(plan), settings)} included), paid through {account.processor}.
        </p>
        <p>
          It keeps {plan.name}, its allowance and limits until the period ends, <strong data-figure="ends">{dateTime(period.end)} UTC</strong>, and is not charged
          again. Then it falls back to{' '}
          {fallback ? (
            <>
              <strong data-plan-after={fallback.slug}>{fallback.name}</strong>, the default plan ({fallback.priceCents ? `${cents(fallback.priceCents)} a month` : 'free'},{' '}
              {value(includedMicros(fallback), settings)} included{fallback.limits.length ? `; ${limitsText(fallback.limits, settings)}` : ''})
            </>
          ) : (
            'the default plan'
          )}
          . Nothing is refunded; credit it bought stays in its buckets. Until then it can be resumed from the account page.
        </p>
        <form method="post" action={cancelPath(accountId)} class="inline" id="cancel">
          <Csrf token={c.get('csrf')} />
          <EffectKey />
          <ErrorNote error={error} />
          <button type="submit" class="danger">
            Confirm: cancel at period end
          </button>{' '}
          <a href={accountPath(accountId)}>Keep the plan</a>
        </form>
      </section>
    ),
  });
}

/** The confirm page and the cancel it confirms. */
export function accountCancelRoutes(admin: AdminApp, billing: Billing) {
  admin.get('/accounts/:id/cancel', (c) => confirmPage(c, billing, c.req.param('id')));

  admin.post('/accounts/:id/cancel', async (c) => {
    const id = c.req.param('id');
    const form = await readForm(c);
    const result = await attempt(async () => billing.cancel(id, {}, effectKey(form)));
    if (!result.ok) return confirmPage(c, billing, id, result.error);
    return done(c, accountPath(id), 'The subscription ends with its period.');
  });
}
