/**
 * The plan the account is on (when it renews or ends) beside the others on sale, each as the
 * pricing table shows it, with what moving to it means: subscribe, upgrade, downgrade, cancel,
 * resume. Only an owner or admin sees the buttons; each goes through the account's processor.
 */
import { cents } from '../../admin/format.ts';
import { Plan as PlanCard } from '../../admin/pages/pricing-table.tsx';
import { includedMicros, isFree, type Plan } from '../../core/plan.ts';
import type { Pricing } from '../../hono/routes/pricing.ts';
import { ActionForm } from '../layout.tsx';
import { amount, when } from '../money.ts';
import { pageUrl } from '../session.ts';
import type { View } from '../view.ts';

type Offer = Pricing['plans'][number];

/** The current plan's line about what comes next. */
function Status({ view }: { view: View }) {
  const { account, balance, defaultPlan, now } = view;
  const tz = account.timeZone;
  if (account.pastDue) return <p class="error">The last renewal's payment failed: update the payment method to keep the plan.</p>;
  if (account.planEndsAt && account.planEndsAt > now) {
    return (
      <p class="warn" data-figure="plan-ends">
        Canceled: it ends {when(account.planEndsAt, tz)}
        {defaultPlan ? `, then ${defaultPlan.name}` : ''}.
      </p>
    );
  }
  return <p class="muted">{isFree(balance.plan) ? 'Its allowance renews' : 'Renews'} {when(balance.period.end, tz)}.</p>;
}

/** What the account's own plan offers: the pricing table's card, or (a plan no longer on sale) its name and allowance. */
function Current({ view }: { view: View }) {
  const { balance, display, account, now } = view;
  const plan = balance.plan;
  const ending = account.planEndsAt !== null && account.planEndsAt > now;
  const actions = (
    <>
      <Status view={view} />
      {!view.canAct ? (
        <p class="muted">The account's owner or an admin changes the plan.</p>
      ) : ending ? (
        <ActionForm action="/billing/resume" csrf={view.csrf} label={`Resume ${plan.name}`} id="resume" />
      ) : !isFree(plan) ? (
        <a class="button secondary" href={pageUrl(view.session, '/cancel')} id="cancel">
          Cancel plan…
        </a>
      ) : null}
      {view.canAct && account.processor !== 'fake' ? <ActionForm action="/billing/portal" csrf={view.csrf} label="Payment method and invoices" kind="secondary" id="portal" /> : null}
    </>
  );
  const offer = view.pricing.plans.find((p) => p.slug === plan.slug);
  return (
    <div class="current" data-current={plan.slug}>
      <span class="tag">Your plan</span>
      {offer ? (
        <PlanCard plan={offer}>{actions}</PlanCard>
      ) : (
        <article class="card price-card" data-plan={plan.slug}>
          <h3>{plan.name}</h3>
          <p class="price">
            {isFree(plan) ? 'Free' : cents(plan.priceCents)}
            {isFree(plan) ? null : <small> a month</small>}
          </p>
          <ul>
            <li>{amount(includedMicros(plan), display)} of usage each month</li>
          </ul>
          {actions}
        </article>
      )}
    </div>
  );
}

/** The button that moves the account from `current` to `offer`: to a free plan is a cancel at the period's end. */
function Move({ view, offer }: { view: View; offer: Offer }) {
  const current: Plan = view.balance.plan;
  if (!view.canAct) return null;
  if (offer.free) {
    const cancels = !isFree(current) && !view.account.planEndsAt && offer.slug === view.defaultPlan?.slug;
    return cancels ? (
      <a class="button secondary" href={pageUrl(view.session, '/cancel')}>
        Downgrade to {offer.name}…
      </a>
    ) : null;
  }
  const up = offer.price.cents > current.priceCents;
  if (isFree(current)) return <ActionForm action="/billing/plan" csrf={view.csrf} label={`Subscribe to ${offer.name}`} fields={{ plan: offer.slug }} kind={up ? 'primary' : 'secondary'} />;
  // From a paid plan the change is at once, on the saved card: a page says what it charges first.
  return (
    <a class={`button${up ? '' : ' secondary'}`} href={pageUrl(view.session, '/change', { plan: offer.slug })}>
      {planMove(current, { priceCents: offer.price.cents })} to {offer.name}…
    </a>
  );
}

/** What moving from one paid plan to another is called: by price, a switch when they cost the same. */
export const planMove = (from: Pick<Plan, 'priceCents'>, to: Pick<Plan, 'priceCents'>) =>
  to.priceCents > from.priceCents ? 'Upgrade' : to.priceCents < from.priceCents ? 'Downgrade' : 'Switch';

export function PlansSection({ view }: { view: View }) {
  const others = view.pricing.plans.filter((p) => p.slug !== view.balance.plan.slug);
  return (
    <section id="plans">
      <h2>Plan</h2>
      <div class="price-cards">
        <Current view={view} />
        {others.map((offer) => (
          <PlanCard plan={offer}>
            <Move view={view} offer={offer} />
          </PlanCard>
        ))}
      </div>
    </section>
  );
}
