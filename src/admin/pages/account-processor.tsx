/**
 * An account's processor and subscription, on its admin page: who it pays through (its customer
 * there), its subscription and the period in force; and a form that moves it to another
 * processor configured here. The fake processor is never offered, and refused if a form names
 * it: it is chosen on the server only (TOLLGATE_PROCESSOR, or the API's key holder), never by
 * what a browser sends. Its payments are listed beside it (account-payments.tsx).
 */
import type { Billing } from '../../engine/billing.ts';
import type { Balance } from '../../engine/reads/reads.ts';
import type { Account } from '../../engine/rows.ts';
import { date, dateTime } from '../format.ts';
import { readForm } from '../form.ts';
import { attempt, Csrf, done, ErrorNote, Select, type AdminApp, type AdminContext } from '../layout.tsx';

const FAKE = 'fake';
const accountPath = (id: string) => `/admin/accounts/${encodeURIComponent(id)}`;

/** The section, drawn with what the account page read already; after a refusal, with the processor that was chosen. */
export async function accountProcessorSection(
  billing: Billing,
  account: Account,
  balance: Balance,
  { csrf, error, chosen }: { csrf: string; error?: string | undefined; chosen?: string | undefined },
) {
  const { customerId, subscription } = await billing.admin.accountSubscription(account.id);
  const choices = billing.admin.processors().filter((p) => p.name !== FAKE);
  const ends = subscription?.cancelAt;
  return (
    <section class="account-processor" id="processor">
      <h2>Processor and subscription</h2>
      <div class="columns">
        <div class="card">
          <dl class="facts">
            <dt>Pays through</dt>
            <dd data-figure="processor">
              <strong>{account.processor}</strong>
              {customerId ? <small class="muted"> customer {customerId}</small> : <small class="muted"> no customer there yet</small>}
            </dd>
            <dt>Subscription</dt>
            <dd data-figure="subscription">
              {subscription ? (
                <>
                  <span class={`badge status ${subscription.status}`}>{subscription.status === 'active' ? (ends ? 'ending' : 'active') : 'ended'}</span> {subscription.plan} at {subscription.processor}{' '}
                  <small class="muted">{subscription.reference}</small>
                  <br />
                  <small>
                    since {dateTime(subscription.startedAt)}
                    {ends ? `, ${subscription.status === 'active' ? 'ends' : 'ended'} ${dateTime(ends)}` : ''}
                  </small>
                </>
              ) : (
                <span class="muted">none</span>
              )}
            </dd>
            <dt>Period</dt>
            <dd data-figure="period">
              {balance.plan.name}: {date(balance.period.start)} to {date(balance.period.end)}
              {account.paidThrough ? <small class="muted"> · paid through {dateTime(account.paidThrough)}</small> : null}
              {account.pastDue ? <small class="owed"> · past due since {dateTime(account.pastDue.since)}</small> : null}
            </dd>
          </dl>
        </div>
        <div class="card">
          {choices.length === 0 ? (
            <>
              <p class="muted">No processor but the fake one is configured here: set Stripe's or Paddle's keys on the server to take real payments, then move accounts to it.</p>
              <ErrorNote error={error} />
            </>
          ) : (
            <form method="post" action={`${accountPath(account.id)}/processor`} class="form" id="processor-change">
              <Csrf token={csrf} />
              <Select
                label="Move to processor"
                name="processor"
                value={chosen ?? account.processor}
                options={choices.map((p) => [p.name, p.mode ? `${p.name} (${p.mode})` : p.name] as const)}
                hint="Its next checkout goes through it. Refused while a subscription at another processor has not ended: cancel that first."
              />
              <ErrorNote error={error} />
              <button type="submit">Move</button>
            </form>
          )}
        </div>
      </div>
    </section>
  );
}

/** POST …/processor: move the account; a refusal comes back beside the form, with the processor chosen (`refused`). */
export function accountProcessorRoutes(
  admin: AdminApp,
  billing: Billing,
  refused: (c: AdminContext, accountId: string, message: string, processor: string) => Promise<Response>,
) {
  admin.post('/accounts/:id/processor', async (c) => {
    const id = c.req.param('id');
    const processor = (await readForm(c)).processor ?? '';
    if (processor === FAKE) {
      return refused(c, id, 'The fake processor charges nobody: it is chosen on the server only (TOLLGATE_PROCESSOR, or the API), never from the admin panel. Pick a real one.', processor);
    }
    const result = await attempt(async () => billing.upsertAccount({ id, kind: (await billing.getAccount(id)).kind, processor }));
    if (!result.ok) return refused(c, id, result.error, processor);
    return done(c, accountPath(id), `The account now pays through ${processor}: its next checkout goes through it.`);
  });
}
