/**
 * Accounts: search and list them with their plan, available value, this month's usage, cost
 * and debt; one account's page says whether the gate refuses it now and until when (the gate's
 * own answer, canStart), shows its buckets, limits, members' caps, recent usage events and
 * ledger with what the ledger adds up to, and lets the admin grant a bonus or adjustment, take
 * one back, refund a usage event, change the plan, cancel it and resume it.
 */
import type { Billing } from '../../engine/billing.ts';
import type { UsageRow } from '../../engine/reads/reads.ts';
import { calendarMonthPeriod } from '../../core/periods.ts';
import { cents, date, dateTime, tokens, usd, value, zonedDateTime, type Display } from '../format.ts';
import { effectKey, grantField, microsField, readForm, type Form } from '../form.ts';
import { attempt, Csrf, done, EffectKey, ErrorNote, Field, listQuery, Pager, render, SearchBox, Select, type AdminContext, type Page } from '../layout.tsx';
import { accountProcessorRoutes, accountProcessorSection } from './account-processor.tsx';
import { autoRechargeSection } from './account-auto-recharge.tsx';
import { accountPaymentRoutes, accountPaymentsSection } from './account-payments.tsx';
import { accountMemberRoutes, accountMembersSection, type MembersError } from './account-members.tsx';
import { accountTakeBackRoutes, TakeBackLink } from './account-take-back.tsx';
import { accountCancelRoutes, CancelLink } from './account-cancel.tsx';
import { accountPlanRoutes, PlanChangeForm } from './account-plan.tsx';
import { LedgerTotalsTable } from './account-ledger-totals.tsx';
import { VersionMoveNote } from './plan-versions.tsx';

const PAGE_SIZE = 50;
const accountPath = (id: string) => `/admin/accounts/${encodeURIComponent(id)}`;

type FormError = { form: 'credit' | 'plan' | 'refund' | 'resume' | 'processor' | 'members'; message: string; eventId?: number; values?: Form };

async function list(c: AdminContext, billing: Billing) {
  const { q, offset } = listQuery(c);
  const settings = await billing.admin.getSettings();
  const { rows, total, month } = await billing.admin.listAccounts({ search: q || undefined, limit: PAGE_SIZE, offset });
  return render(c, {
    title: 'Accounts',
    body: (
      <>
        <SearchBox path="/admin/accounts" q={q} target="account-results" placeholder="Search accounts by id or name" />
        <div id="account-results">
          <p class="muted">
            {total.toLocaleString('en-US')} account{total === 1 ? '' : 's'}
            {q ? ` matching “${q}”` : ''}. This month: {date(month.start)} to {date(new Date(month.end.getTime() - 1))} (UTC).
          </p>
          <table class="grid">
            <thead>
              <tr>
                <th>Account</th>
                <th>Plan</th>
                <th class="num">Available</th>
                <th class="num">Usage this month</th>
                <th class="num">Provider cost</th>
                <th class="num">Calls</th>
                <th class="num">Debt</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr data-account={r.id}>
                  <td>
                    <a href={accountPath(r.id)}>{r.id}</a>
                    {r.name ? <small class="muted"> {r.name}</small> : null}
                  </td>
                  <td>{r.plan.name}</td>
                  <td class="num">{value(r.availableMicros, settings)}</td>
                  <td class="num">{value(r.month.valueMicros, settings)}</td>
                  <td class="num">{usd(r.month.costMicros)}</td>
                  <td class="num">{r.month.events.toLocaleString('en-US')}</td>
                  <td class={r.debtMicros > 0 ? 'num owed' : 'num'}>{r.debtMicros > 0 ? usd(r.debtMicros) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager path="/admin/accounts" q={q} offset={offset} shown={rows.length} total={total} size={PAGE_SIZE} />
        </div>
      </>
    ),
  });
}

/**
 * This month's usage by model (UTC, as the accounts list counts it): its total is that list's
 * usage this month, the value charged less usage refunds; the recent usage below it stops at 50 calls.
 */
async function UsageByModel({ billing, accountId, display }: { billing: Billing; accountId: string; display: Display }) {
  const month = calendarMonthPeriod(billing.now(), 'UTC');
  const { rows, total } = await billing.usage(accountId, { from: month.start, to: month.end, groupBy: 'model' });
  const cells = (u: UsageRow) => (
    <>
      <td class="num">{u.events.toLocaleString('en-US')}</td>
      <td class="num">
        {tokens(u.inputTokens)} / {tokens(u.outputTokens)}
      </td>
      <td class="num">{value(u.valueMicros - u.refundedMicros, display)}</td>
      <td class="num">{u.refundedMicros ? value(u.refundedMicros, display) : '—'}</td>
      <td class="num">{usd(u.costMicros)}</td>
    </>
  );
  return (
    <>
      <h2>
        Usage this month by model <small class="muted">{date(month.start)} to {date(new Date(month.end.getTime() - 1))} (UTC)</small>
      </h2>
      {rows.length === 0 ? (
        <p class="muted">No usage this month.</p>
      ) : (
        <table class="grid" id="usage-by-model">
          <thead>
            <tr>
              <th>Model</th>
              <th class="num">Calls</th>
              <th class="num">Tokens in / out</th>
              <th class="num">Usage value charged</th>
              <th class="num">Refunds taken off</th>
              <th class="num">Provider cost</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((u) => (
              <tr data-model={u.key}>
                <td>
                  <code>{u.key}</code>
                </td>
                {cells(u)}
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr data-model="total">
              <th>Total</th>
              {cells(total)}
            </tr>
          </tfoot>
        </table>
      )}
    </>
  );
}

async function detail(c: AdminContext, billing: Billing, id: string, error?: FormError) {
  const account = await billing.getAccount(id);
  const balance = await billing.balance(id);
  const { usageEvents, ledger } = await billing.admin.accountActivity(id, { limit: 50 });
  const totals = await billing.admin.ledgerTotals(id);
  // The gate's own answer for the smallest call, now: its reason and when it lifts, from the code that refuses.
  const gate = await billing.canStart(id);
  const settings = await billing.admin.getSettings();
  const plans = await billing.admin.listPlans({ status: 'active' });
  const display: Display = settings;
  const csrf = c.get('csrf');
  const errorFor = (form: FormError['form'], eventId?: number) => (error?.form === form && error.eventId === eventId ? error.message : undefined);
  const creditValues = error?.form === 'credit' ? error.values! : { source: 'bonus', amount: '', reference: `admin-${billing.now().toISOString().slice(0, 19).replace(/[-:T]/g, '')}`, expires: '' };
  return render(c, {
    title: account.name ? `${account.name} (${account.id})` : account.id,
    status: error ? 422 : 200,
    body: (
      <>
        <p>
          <a href="/admin/accounts">← All accounts</a> · {account.kind} account · time zone {account.timeZone}
        </p>
        {gate.ok ? null : (
          <div class="refused" role="status" data-figure="refused" data-code={gate.code}>
            <strong>Refused now</strong>
            {gate.resetsAt ? (
              <>
                {' '}until <strong data-figure="refused-until">{zonedDateTime(gate.resetsAt, account.timeZone)}</strong> ({account.timeZone}, {dateTime(gate.resetsAt)} UTC)
              </>
            ) : null}
            : {gate.resetsAt ? gate.reason : gate.message}
          </div>
        )}
        <div class="tiles">
          <div class="tile">
            <span>Plan</span>
            <strong data-figure="plan">{balance.plan.name}</strong>
            <small>{balance.plan.priceCents ? `${cents(balance.plan.priceCents)} a month` : 'free'} · period to {date(balance.period.end)}</small>
            {account.planEndsAt && account.planEndsAt > billing.now() ? (
              <small data-figure="plan-ends">Canceled: ends {dateTime(account.planEndsAt)} UTC, then the default plan</small>
            ) : null}
            {account.pastDue ? (
              <small data-figure="past-due">A renewal's payment failed on {date(account.pastDue.since)}: past due until it is paid</small>
            ) : account.paidThrough && account.paidThrough <= billing.now() ? (
              <small data-figure="renewal-due">Renewal due since {date(account.paidThrough)}: the default plan's terms until it is paid</small>
            ) : null}
          </div>
          <div class="tile">
            <span>Available</span>
            <strong data-figure="available">{value(balance.availableMicros, display)}</strong>
          </div>
          <div class="tile">
            <span>Held</span>
            <strong>{value(balance.heldMicros, display)}</strong>
          </div>
          <div class={balance.debtMicros > 0 ? 'tile owed' : 'tile'}>
            <span>Debt</span>
            <strong>{usd(balance.debtMicros)}</strong>
          </div>
        </div>

        <div class="columns">
          <section class="card">
            <h2>Grant credit</h2>
            <form method="post" action={`${accountPath(id)}/credit`} class="form" id="credit-form">
              <Csrf token={csrf} />
              <EffectKey />
              <div class="row">
                <Select label="Kind" name="source" value={creditValues.source} options={[['bonus', 'Bonus (a gift)'], ['adjustment', 'Adjustment (a correction)']]} />
                <Field label="Amount ($)" name="amount" value={creditValues.amount} required step="0.000001" />
              </div>
              <div class="row">
                <Field label="Reference" name="reference" value={creditValues.reference} required hint="Granted once per reference." />
                <Field label="Expires" name="expires" type="date" value={creditValues.expires} hint="Blank: never." />
              </div>
              <ErrorNote error={errorFor('credit')} />
              <button type="submit">Grant</button>
            </form>
          </section>
          <section class="card">
            <h2>Plan</h2>
            {await VersionMoveNote({ billing, accountId: id, planSlug: balance.plan.slug, csrf })}
            <PlanChangeForm accountId={id} current={balance.plan} plans={plans} processor={account.processor} error={errorFor('plan')} />
            {account.planEndsAt && account.planEndsAt > billing.now() ? (
              <form method="post" action={`${accountPath(id)}/resume`} class="inline" id="resume">
                <Csrf token={csrf} />
                <EffectKey />
                <button type="submit">Resume {balance.plan.name}</button>
                <small class="muted"> The cancel is called off: it renews as before.</small>
                <ErrorNote error={errorFor('resume')} />
              </form>
            ) : balance.plan.priceCents > 0 ? (
              <p class="inline">
                <CancelLink accountId={id} />
              </p>
            ) : null}
          </section>
        </div>

        {await accountProcessorSection(billing, account, balance, { csrf, error: errorFor('processor'), chosen: error?.form === 'processor' ? error.values?.processor : undefined })}
        {await autoRechargeSection(billing, id, balance)}
        {await accountPaymentsSection(billing, account)}
        {accountMembersSection(account, balance, display, { csrf, error: error?.form === 'members' ? { message: error.message, values: error.values ?? {} } : undefined })}

        <h2>Buckets</h2>
        <table class="grid">
          <thead>
            <tr>
              <th>Source</th>
              <th class="num">Granted</th>
              <th class="num">Remaining</th>
              <th>From</th>
              <th>Expires</th>
              <th>Spendable on this plan</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {balance.buckets.map((b) => (
              <tr>
                <td>
                  {b.source}
                  {b.id === null ? <small class="muted"> (opens on the next call)</small> : null}
                </td>
                <td class="num">{value(b.amountMicros, display)}</td>
                <td class="num">{value(b.remainingMicros, display)}</td>
                <td>{dateTime(b.startsAt)}</td>
                <td>{b.expiresAt ? dateTime(b.expiresAt) : 'never'}</td>
                <td>{b.usable ? 'yes' : 'no'}</td>
                <td>
                  <TakeBackLink accountId={id} bucket={b} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>

        <h2>Limits</h2>
        {balance.limits.length === 0 ? null : (
          <p class="muted" id="limits-note">
            Used and held as the gate weighs them for the next call. A refund gives back value, not usage: a refunded call still counts against the limit, which
            bounds what the account consumed; raise the limit to give room back.
          </p>
        )}
        {balance.limits.length === 0 ? (
          <p class="muted">None on this plan.</p>
        ) : (
          <table class="grid">
            <thead>
              <tr>
                <th>Window</th>
                <th class="num">Limit</th>
                <th class="num">Used</th>
                <th class="num">Held</th>
                <th>Resets ({account.timeZone})</th>
              </tr>
            </thead>
            <tbody>
              {balance.limits.map((l) => {
                const show = (n: number) => (l.unit === 'usd' ? value(n, display) : `${tokens(n)} tokens`);
                return (
                  <tr>
                    <td>a {l.window}</td>
                    <td class="num">{show(l.amount)}</td>
                    <td class="num">{show(l.used)}</td>
                    <td class="num">{show(l.held)}</td>
                    <td>{zonedDateTime(l.resetsAt, account.timeZone)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}

        {await UsageByModel({ billing, accountId: id, display })}

        <h2>Recent usage</h2>
        {error?.form === 'refund' && !usageEvents.some((e) => e.id === error.eventId) ? <ErrorNote error={error.message} /> : null}
        {usageEvents.length === 0 ? (
          <p class="muted">No usage yet.</p>
        ) : (
          <table class="grid">
            <thead>
              <tr>
                <th>When (UTC)</th>
                <th>Model</th>
                <th class="num">Tokens in / out</th>
                <th class="num">Provider cost</th>
                <th class="num">Charged</th>
                <th class="num">Refunded</th>
                <th>Refund</th>
              </tr>
            </thead>
            <tbody>
              {usageEvents.map((e) => (
                <tr data-event={e.id}>
                  <td>{dateTime(e.occurredAt)}</td>
                  <td>
                    <code>{e.model}</code>
                    {e.userId ? <small class="muted"> by {e.userId}</small> : null}
                  </td>
                  <td class="num">
                    {tokens(e.inputTokens)} / {tokens(e.outputTokens)}
                  </td>
                  <td class="num">{usd(e.costMicros)}</td>
                  <td class="num">{value(e.valueMicros, display)}</td>
                  <td class="num">{e.refundedMicros ? value(e.refundedMicros, display) : '—'}</td>
                  <td>
                    {e.refundedMicros < e.valueMicros ? (
                      <form method="post" action={`${accountPath(id)}/refund`} class="inline compact">
                        <Csrf token={csrf} />
                        <EffectKey />
                        <input type="hidden" name="event" value={String(e.id)} />
                        <input type="text" name="amount" placeholder="all" aria-label="Amount to refund ($)" size={6} />
                        <button type="submit" class="secondary">Refund</button>
                      </form>
                    ) : (
                      <span class="muted">refunded</span>
                    )}
                    <ErrorNote error={errorFor('refund', e.id)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}

        <h2>Ledger</h2>
        <table class="grid">
          <thead>
            <tr>
              <th>When (UTC)</th>
              <th>Entry</th>
              <th class="num">Amount</th>
              <th>Bucket</th>
              <th>Usage event or payment</th>
            </tr>
          </thead>
          <tbody>
            {ledger.map((l) => (
              <tr>
                <td>{dateTime(l.createdAt)}</td>
                <td>{l.kind.replace('_', ' ')}</td>
                <td class={l.amountMicros < 0 ? 'num debit' : 'num'}>{usd(l.amountMicros)}</td>
                <td>{l.bucketId === null ? 'debt' : `${l.bucketSource} #${l.bucketId}`}</td>
                <td>{l.usageEventId ?? (l.paymentRef ? <code>{l.paymentRef}</code> : '')}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <h2>What the ledger adds up to</h2>
        <LedgerTotalsTable totals={totals} entries={ledger.length} />
      </>
    ),
  });
}

export const accountsPage: Page = (admin, billing) => {
  accountProcessorRoutes(admin, billing, (c, id, message, processor) => detail(c, billing, id, { form: 'processor', message, values: { processor } }));
  accountPaymentRoutes(admin, billing);
  accountTakeBackRoutes(admin, billing);
  accountCancelRoutes(admin, billing);
  accountPlanRoutes(admin, billing, (c, id, message) => detail(c, billing, id, { form: 'plan', message }));
  accountMemberRoutes(admin, billing, (c, id, e: MembersError) => detail(c, billing, id, { form: 'members', message: e.message, values: e.values }));
  admin.get('/accounts', (c) => list(c, billing));
  admin.get('/accounts/:id', (c) => detail(c, billing, c.req.param('id')));

  admin.post('/accounts/:id/credit', async (c) => {
    const id = c.req.param('id');
    const form = await readForm(c);
    const amountMicros = () => grantField(form, 'amount', 'Amount') ?? 0;
    const result = await attempt(async () =>
      billing.credit(id, { source: form.source === 'adjustment' ? 'adjustment' : 'bonus', amountMicros: amountMicros(), reference: form.reference ?? '', expiresAt: form.expires || null }, effectKey(form)),
    );
    if (!result.ok) return detail(c, billing, id, { form: 'credit', message: result.error, values: form });
    const what = form.source === 'adjustment' ? 'Adjustment' : 'Bonus';
    return done(c, accountPath(id), result.value.created ? `${what} of ${usd(amountMicros())} granted.` : 'That reference was granted already: nothing changed.');
  });

  admin.post('/accounts/:id/refund', async (c) => {
    const id = c.req.param('id');
    const form = await readForm(c);
    const eventId = Number(form.event);
    const result = await attempt(async () => {
      const amountMicros = microsField(form, 'amount', 'Amount to refund');
      return billing.refund(eventId, amountMicros === undefined ? {} : { amountMicros }, effectKey(form));
    });
    if (!result.ok) return detail(c, billing, id, { form: 'refund', message: result.error, eventId });
    return done(c, accountPath(id), `Refunded ${usd(result.value.refundedMicros)} of usage event ${eventId}.`);
  });

  // Subscribing again to the plan it is on calls off the cancel scheduled for the period's end.
  admin.post('/accounts/:id/resume', async (c) => {
    const id = c.req.param('id');
    const form = await readForm(c);
    const plan = (await billing.balance(id)).plan;
    const result = await attempt(async () => billing.subscribe(id, plan.slug, effectKey(form)));
    if (!result.ok) return detail(c, billing, id, { form: 'resume', message: result.error });
    return done(c, accountPath(id), `${plan.name} resumed: it renews as before.`);
  });
};
