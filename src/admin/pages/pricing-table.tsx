/**
 * The pricing table as customers would see it: the plans and packs on sale, drawn from what
 * /v1/pricing answers (the same read), so what the owner checks here is what an app shows.
 */
import { readPricing, type Pricing } from '../../hono/routes/pricing.ts';
import type { Child } from 'hono/jsx';
import { render, type Page } from '../layout.tsx';

type PlanCard = Pricing['plans'][number];
type PackCard = Pricing['packs'][number];

/**
 * A plan's models as a customer reads them: the names, then the patterns in words, a "*" as "…"
 * ("and any model named claude-haiku-… or gemini-…flash…"), not "claude-haiku-*".
 */
function modelsLine(models: readonly string[]): string {
  if (models.length === 0) return 'Every model';
  const names = models.filter((m) => !m.includes('*'));
  const patterns = models.filter((m) => m.includes('*')).map((m) => m.replaceAll('*', '…'));
  const named = patterns.length === 0 ? '' : `${names.length > 0 ? ', and ' : ''}any model named ${patterns.length > 1 ? `${patterns.slice(0, -1).join(', ')} or ${patterns.at(-1)}` : patterns[0]}`;
  return `Models: ${names.join(', ')}${named}`;
}

/** A plan as the pricing table shows it; `children` below it (the billing page's button). */
export function Plan({ plan, children }: { plan: PlanCard; children?: Child }) {
  return (
    <article class="card price-card" data-plan={plan.slug}>
      <h3>{plan.name}</h3>
      <p class="price">
        {plan.free ? 'Free' : plan.price.display}
        {plan.free ? null : <small> a month</small>}
      </p>
      <ul>
        <li>{plan.included.display} of usage each month</li>
        {plan.limits.map((l) => (
          <li>At most {l.display}</li>
        ))}
        <li>{plan.overage === 'credits' ? 'Go on past it with credit packs' : 'Usage stops at what is included'}</li>
        <li>{modelsLine(plan.models)}</li>
      </ul>
      {plan.default ? <p class="muted">Where every new account starts.</p> : null}
      {children}
    </article>
  );
}

export function Pack({ pack, children }: { pack: PackCard; children?: Child }) {
  return (
    <article class="card price-card" data-pack={pack.slug}>
      <h3>{pack.name}</h3>
      <p class="price">{pack.price.display}</p>
      <ul>
        <li>
          {pack.value.display} of usage{pack.bonus.micros > 0 ? `, ${pack.bonus.display} of it a bonus` : ''}
        </li>
        <li>{pack.expiresAfterDays === null ? 'Never expires' : `Lasts ${pack.expiresAfterDays} days`}</li>
        {pack.addOn ? <li>For subscribers to a paid plan</li> : null}
      </ul>
      {children}
    </article>
  );
}

export const pricingTablePage: Page = (admin, billing) => {
  admin.get('/pricing/table', async (c) => {
    const pricing = await readPricing(billing);
    return render(c, {
      title: 'Pricing table',
      body: (
        <>
          <p class="lead">
            What customers see: the plans and packs on sale, as <code>/v1/pricing</code> gives them to your app
            {pricing.credit ? `, in credits of ${pricing.credit.display} each` : ', in dollars'}. <a href="/admin/pricing">← Pricing mode</a>
          </p>
          <h2>Plans</h2>
          {pricing.plans.length === 0 ? <p class="muted">No plan is on sale.</p> : (
            <div class="price-cards">
              {pricing.plans.map((p) => (
                <Plan plan={p} />
              ))}
            </div>
          )}
          <h2>Credit packs</h2>
          {pricing.packs.length === 0 ? <p class="muted">No pack is on sale.</p> : (
            <div class="price-cards">
              {pricing.packs.map((p) => (
                <Pack pack={p} />
              ))}
            </div>
          )}
        </>
      ),
    });
  });
};
