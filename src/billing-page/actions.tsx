/**
 * What an owner or admin does on the page, each through the account's processor by the library's
 * facade: change the plan (subscribe, upgrade, downgrade), cancel it after a page that says when
 * it ends, resume it, buy a pack, open the processor's portal, set auto-recharge. A processor
 * that takes payment on its own page (Stripe, Paddle) gets the customer sent there; the fake one
 * completes at once, and the page says what changed. Every form carries its own effect key.
 */
import { createHash } from 'node:crypto';
import { usableSources } from '../core/bucket.ts';
import { isFree } from '../core/plan.ts';
import { cents } from '../admin/format.ts';
import { BillingError } from '../core/errors.ts';
import { checked, readForm, wholeField, microsField, type Form } from '../admin/form.ts';
import { ownerMessage } from '../admin/labels.ts';
import { ActionForm, flash, render, type PageContext, type Part } from './layout.tsx';
import { amount, amountField, when } from './money.ts';
import { overview } from './overview.tsx';
import { pageUrl } from './session.ts';
import { LABELS, whatItCharges } from './sections/auto-recharge.tsx';
import { planMove } from './sections/plans.tsx';
import { readPricing } from '../hono/routes/pricing.ts';


/** A refusal that names the library's fields ("thresholdMicros: …") said with the form's labels; any other as the library says it. */
function plainly(error: BillingError): string {
  const issues = Array.isArray(error.details?.issues) ? (error.details.issues as string[]) : [];
  const labelled = issues.map((issue) => {
    const [field, ...rest] = issue.split(': ');
    const label = LABELS[field as keyof typeof LABELS];
    return label ? `${label}: ${rest.join(': ')}` : undefined;
  });
  return labelled.length > 0 && labelled.every(Boolean) ? `${labelled.join('. ')}.` : ownerMessage(error);
}

/**
 * A refusal of a button's form as the customer reads it. Its fields are the page's own (a plan, a
 * pack, a key), so one the library does not know was taken off sale since the page was drawn, or
 * was not sent by the page: either way, reloading shows what there is. Any other in its words.
 */
function customerMessage(error: BillingError): string {
  switch (error.code) {
    case 'plan_not_found':
    case 'plan_not_available':
      return 'That plan is not on sale any more: reload the page to see the plans on sale.';
    case 'pack_not_found':
      return 'That pack is not on sale any more: reload the page to see the packs on sale.';
    case 'pack_requires_plan':
    case 'pack_not_usable':
      return 'That pack cannot be bought on your plan: reload the page to see what can.';
    case 'idempotency_conflict':
    case 'invalid_input':
      return 'This form is not one the page can take any more: reload the page and try again.';
    // The library's words for these name the account's id, slugs and the API: the app's operator's to read, not the customer's.
    case 'payment_declined':
      return 'The payment was declined, so nothing changed: update the card under "Payment method and invoices", then try again.';
    case 'payment_past_due':
      return 'A renewal of your plan is not paid yet: pay it under "Payment method and invoices", then change the plan.';
    case 'processor_not_configured':
      return 'Payments for this account cannot be taken here right now, so nothing was charged: please contact support.';
    case 'change_in_progress':
      return error.details?.sameRequest === true
        ? 'That change is being made right now: reload the page in a moment to see it.'
        : 'Another change to your plan is being made right now, so this one changed nothing: reload the page in a moment to see it.';
    case 'processor_error':
      return 'The payment processor did not answer just now, so nothing changed: try again in a moment.';
    default:
      return ownerMessage(error);
  }
}

/**
 * The form's idempotency key, in the account's own space: keys are one namespace for every account,
 * and a customer must not take a key the host app will use (for another account's credit, say).
 */
const key = (c: PageContext, form: Form) => ({
  idempotencyKey: form.idempotencyKey ? `billing-page:${createHash('sha256').update(c.get('session').accountId).digest('base64url').slice(0, 22)}:${form.idempotencyKey}` : undefined,
});
/** This session's page, scrolled to what the last form did (its note is at the top, above the balance it changed). */
const back = (c: PageContext) => `${pageUrl(c.get('session'))}#note`;
/** Where a processor's page sends the customer back to. */
const returns = (c: PageContext) => ({
  successUrl: c.get('origin') + pageUrl(c.get('session'), '', { checkout: 'paid' }),
  cancelUrl: c.get('origin') + pageUrl(c.get('session'), '', { checkout: 'left' }),
});

/** Back to the page with a note; or the library's refusal, said for the customer. */
async function act(c: PageContext, action: () => Promise<{ redirect: string } | { note: string }>) {
  try {
    const result = await action();
    if ('redirect' in result) return c.redirect(result.redirect, 303);
    flash(c, 'note', result.note);
  } catch (error) {
    if (!(error instanceof BillingError)) throw error;
    flash(c, 'error', customerMessage(error));
  }
  return c.redirect(back(c), 303);
}

export const actions: Part = (page, billing) => {
  const accountOf = (c: PageContext) => c.get('session').accountId;

  page.post('/plan', async (c) => {
    const form = await readForm(c);
    return act(c, async () => {
      const result = await billing.subscribe(accountOf(c), form.plan ?? '', { ...key(c, form), ...returns(c) });
      return 'checkoutUrl' in result ? { redirect: result.checkoutUrl } : { note: `You are on ${result.plan.name} now.` };
    });
  });

  // Subscribing again to the plan it is on calls off the cancel scheduled for the period's end.
  page.post('/resume', async (c) => {
    const form = await readForm(c);
    return act(c, async () => {
      const plan = (await billing.balance(accountOf(c))).plan;
      const result = await billing.subscribe(accountOf(c), plan.slug, { ...key(c, form), ...returns(c) });
      return 'checkoutUrl' in result ? { redirect: result.checkoutUrl } : { note: `${plan.name} resumed: it renews as before.` };
    });
  });

  // A change of a paid plan takes effect at once, charged or credited on the saved card: the page that asks says so first.
  page.get('/change', async (c) => {
    const id = accountOf(c);
    const [balance, account, plans] = await Promise.all([billing.balance(id), billing.getAccount(id), billing.admin.listPlans()]);
    const from = balance.plan;
    const to = plans.find((p) => p.slug === c.req.query('plan') && p.status === 'active' && p.public && !isFree(p));
    if (!to || to.id === from.id || isFree(from)) return c.redirect(pageUrl(c.get('session')), 303);
    const verb = planMove(from, to);
    const price = `${cents(to.priceCents)} a month`;
    const tz = account.timeZone;
    const strandsPacks = !usableSources(to.overage).includes('pack') && balance.buckets.some((b) => (b.source === 'pack' || b.source === 'recharge') && b.remainingMicros > 0);
    return render(c, {
      title: `${verb} to ${to.name}?`,
      accountName: account.name || account.id,
      body: (
        <section class="card narrow" id="change-confirm">
          {account.processor === 'fake' ? (
            <p>
              {to.name} replaces {from.name} now: {cents(to.priceCents)} is paid now for a month from today, then each month. What is left of {from.name}'s allowance ends now.
            </p>
          ) : (
            <p>
              {to.name} replaces {from.name} now, and renews {when(balance.period.end, tz)} at {price}.{' '}
              {to.priceCents > from.priceCents
                ? 'Your saved card is charged now for the difference over the rest of this period.'
                : to.priceCents < from.priceCents
                  ? `What you paid for ${from.name} over the rest of this period is credited toward your next payment.`
                  : ''}{' '}
              What is left of {from.name}'s allowance ends now, and {to.name}'s starts.
            </p>
          )}
          {strandsPacks ? <p>Credit packs you bought stay yours, though {to.name} does not spend them: they are spent again on a plan that does.</p> : null}
          <div class="buttons">
            <ActionForm action="/billing/plan" csrf={c.get('csrf')} label={`${verb} to ${to.name}`} fields={{ plan: to.slug }} />
            <a class="button secondary" href={pageUrl(c.get('session'))}>
              Keep {from.name}
            </a>
          </div>
        </section>
      ),
    });
  });

  page.get('/cancel', async (c) => {
    const id = accountOf(c);
    const [balance, account, settings, plans] = await Promise.all([billing.balance(id), billing.getAccount(id), billing.admin.getSettings(), billing.admin.listPlans()]);
    const fallback = plans.find((p) => p.id === settings.defaultPlanId);
    return render(c, {
      title: `Cancel ${balance.plan.name}?`,
      accountName: account.name || account.id,
      body: (
        <section class="card narrow" id="cancel-confirm">
          <p>
            {balance.plan.name} stays until the end of the period paid, <strong>{when(balance.period.end, account.timeZone)}</strong>; it is not renewed after it.
            {fallback ? ` Then the account is on ${fallback.name}.` : ''} Credit packs you bought stay yours
            {fallback && !usableSources(fallback.overage).includes('pack') ? `, though ${fallback.name} does not spend them: they are spent again on a plan that does` : ''}, and you can resume the
            plan until it ends.
          </p>
          <div class="buttons">
            <ActionForm action="/billing/cancel" csrf={c.get('csrf')} label={`Cancel ${balance.plan.name}`} kind="danger" />
            <a class="button secondary" href={pageUrl(c.get('session'))}>
              Keep it
            </a>
          </div>
        </section>
      ),
    });
  });

  page.post('/cancel', async (c) => {
    const form = await readForm(c);
    return act(c, async () => {
      const id = accountOf(c);
      const canceled = await billing.cancel(id, { immediately: false }, key(c, form));
      const account = await billing.getAccount(id);
      return { note: `${canceled.plan.name} is canceled: it ends ${canceled.endsAt ? when(canceled.endsAt, account.timeZone) : 'now'}.` };
    });
  });

  page.post('/purchase', async (c) => {
    const form = await readForm(c);
    return act(c, async () => {
      const id = accountOf(c);
      const result = await billing.purchase(id, form.pack ?? '', { ...key(c, form), ...returns(c) });
      if ('checkoutUrl' in result) return { redirect: result.checkoutUrl };
      const display = await billing.admin.getSettings();
      return { note: `Bought: ${amount(result.valueMicros, display)} added${result.debtPaidMicros > 0 ? `, ${amount(result.debtPaidMicros, display)} of it paying what was owed` : ''}.` };
    });
  });

  page.post('/portal', async (c) => act(c, async () => ({ redirect: (await billing.portal(accountOf(c), { returnUrl: c.get('origin') + pageUrl(c.get('session')) })).url })));

  page.post('/auto-recharge', async (c) => {
    const form = await readForm(c);
    const display = await billing.admin.getSettings();
    try {
      const setting = await billing.setAutoRecharge(accountOf(c), {
        enabled: checked(form, 'enabled'),
        pack: form.pack ?? '',
        thresholdMicros: amountField(form, 'threshold', LABELS.thresholdMicros, display) ?? 0,
        monthlyMaxCount: wholeField(form, 'maxCount', LABELS.monthlyMaxCount) ?? null,
        monthlyMaxMicros: microsField(form, 'maxDollars', LABELS.monthlyMaxMicros) ?? null,
      });
      flash(c, 'note', setting.enabled ? `Auto-recharge is on: it ${whatItCharges(setting, (await readPricing(billing)).packs, display)}.` : 'Auto-recharge is off.');
      return c.redirect(back(c), 303);
    } catch (error) {
      if (!(error instanceof BillingError)) throw error;
      return overview(c, billing, { autoRecharge: { form, error: plainly(error) } }, 400);
    }
  });
};
