/**
 * Changing an account's plan from its admin page: the form names the plans on sale other than its
 * own, none chosen (a plan preselected was one click from a change nobody meant: the first plan
 * on sale, Free, for an account on a legacy plan it could never take again); choosing one opens a
 * page that says what the change does, and only its form changes the plan, once per its key.
 */
import type { Billing } from '../../engine/billing.ts';
import { includedMicros, type Plan } from '../../core/plan.ts';
import { cents, limitsText, value, type Display } from '../format.ts';
import { effectKey, readForm } from '../form.ts';
import { attempt, Csrf, done, EffectKey, ErrorNote, render, type AdminApp, type AdminContext } from '../layout.tsx';

const accountPath = (id: string) => `/admin/accounts/${encodeURIComponent(id)}`;
const planPath = (id: string) => `${accountPath(id)}/plan`;

/** How the change goes through the account's processor. */
const throughProcessor = (processor: string) =>
  processor === 'fake' ? 'Through the fake processor: takes effect at once, no payment.' : `Through ${processor}: a checkout, or on a subscription a change with its proration charged at once.`;

/** What a plan sells a month: "$20.00 a month, 2,000 credits ($20.00) included; 200 credits ($2.00) a day". */
const terms = (plan: Plan, display: Display) =>
  `${plan.priceCents ? `${cents(plan.priceCents)} a month` : 'free'}, ${value(includedMicros(plan), display)} included${plan.limits.length ? `; ${limitsText(plan.limits, display)}` : ''}`;

/** The account page's form: the plans on sale it is not on, one to choose, and the way to the confirmation. */
export function PlanChangeForm({ accountId, current, plans, processor, error }: { accountId: string; current: Plan; plans: Plan[]; processor: string; error?: string | undefined }) {
  const others = plans.filter((p) => p.id !== current.id);
  return (
    <form method="get" action={planPath(accountId)} class="form" id="plan-change">
      <label class="field">
        <span>Change to</span>
        <select name="plan" required>
          <option value="" selected>
            Choose a plan…
          </option>
          {others.map((p) => (
            <option value={p.slug}>{`${p.name} (${p.priceCents ? `${cents(p.priceCents)}/month` : 'free'})`}</option>
          ))}
        </select>
        <small>{throughProcessor(processor)}</small>
      </label>
      <ErrorNote error={error} />
      <button type="submit">Change plan…</button>
    </form>
  );
}

async function confirmPage(c: AdminContext, billing: Billing, accountId: string, slug: string) {
  const account = await billing.getAccount(accountId);
  const [{ plan: current, buckets }, next, display] = await Promise.all([billing.balance(accountId), billing.admin.getPlan(slug), billing.admin.getSettings()]);
  const allowanceLeft = buckets.filter((b) => b.source === 'allowance').reduce((sum, b) => sum + b.remainingMicros, 0);
  return render(c, {
    // An account made without a name has an empty one.
    title: `Change the plan of ${account.name || accountId}`,
    body: (
      <section class="card" id="plan-confirm">
        <p>
          <strong data-account={accountId}>{accountId}</strong> is on <strong data-plan={current.slug}>{current.name}</strong> ({terms(current, display)}). It moves now to{' '}
          <strong data-plan-after={next.slug}>{next.name}</strong> ({terms(next, display)}).
        </p>
        <p>
          {throughProcessor(account.processor)}{' '}
          {account.processor === 'fake' ? `What is left of ${current.name}'s allowance (${value(allowanceLeft, display)}) ends now, and ${next.name}'s takes its place. ` : ''}
          Credit it bought or was granted stays in its buckets.
        </p>
        {/* The default plan is where a cancel falls back to, on sale or not. */}
        {current.status === 'active' || current.id === display.defaultPlanId ? null : (
          <p class="warn" data-figure="off-sale">
            {current.name} is {current.status === 'legacy' ? 'off sale (legacy)' : 'archived'}: once moved off it, the account cannot take it again.
          </p>
        )}
        <form method="post" action={planPath(accountId)} class="inline" id="plan">
          <Csrf token={c.get('csrf')} />
          <EffectKey />
          <input type="hidden" name="plan" value={next.slug} />
          <button type="submit">Confirm: change to {next.name}</button> <a href={accountPath(accountId)}>Keep {current.name}</a>
        </form>
      </section>
    ),
  });
}

/**
 * The confirmation page and the change it confirms; a plan not chosen, or one that cannot be
 * taken, comes back beside the account page's form (`refused`).
 */
export function accountPlanRoutes(admin: AdminApp, billing: Billing, refused: (c: AdminContext, accountId: string, message: string) => Promise<Response>) {
  admin.get('/accounts/:id/plan', async (c) => {
    const id = c.req.param('id');
    const slug = c.req.query('plan')?.trim() ?? '';
    if (!slug) return refused(c, id, 'Change to: choose the plan to change to.');
    const plan = await attempt(() => billing.admin.getPlan(slug));
    if (!plan.ok) return refused(c, id, plan.error);
    return confirmPage(c, billing, id, slug);
  });

  admin.post('/accounts/:id/plan', async (c) => {
    const id = c.req.param('id');
    const form = await readForm(c);
    const plan = form.plan ?? '';
    const result = await attempt(async () => billing.subscribe(id, plan, effectKey(form)));
    if (!result.ok) return refused(c, id, result.error);
    // At Stripe or Paddle without a subscription, a checkout: nothing changes until the customer pays.
    if ('status' in result.value && result.value.status === 'pending') {
      const { processor } = await billing.getAccount(id);
      return done(c, accountPath(id), `Not changed yet: ${processor} opened a checkout for ${plan}, and the plan changes once the customer pays there (${result.value.checkoutUrl}).`);
    }
    return done(c, accountPath(id), `Plan changed to ${plan}.`);
  });
}
