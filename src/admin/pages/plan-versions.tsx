/**
 * A plan's versions, on its page: how many subscribers are on older versions (what they bought,
 * kept until moved), and a page that says what moving them to this version does to whom, and
 * asks to confirm (engine/catalog/plan-versions.ts).
 */
import type { Billing } from '../../engine/billing.ts';
import type { PlanVersions } from '../../engine/catalog/plan-versions.ts';
import { includedMicros, isFree, type Plan } from '../../core/plan.ts';
import { cents, limitsText, usd } from '../format.ts';
import { attempt, Csrf, done, ErrorNote, render, type AdminApp, type AdminContext } from '../layout.tsx';

const planPath = (slug: string) => `/admin/plans/${encodeURIComponent(slug)}`;
const movePath = (slug: string) => `${planPath(slug)}/move`;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** On the plan's page: who is on an older version, and the way to move them. */
export async function PlanVersionsCard({ billing, plan }: { billing: Billing; plan: Plan }) {
  const { version, behind } = await billing.admin.planVersions(plan.slug);
  return (
    <section class="card" id="plan-versions">
      <h2>Version {version}</h2>
      {isFree(plan) && behind.length === 0 ? (
        <p>Its accounts are on this version, and on the next one as soon as it is saved: nobody paid for a free plan.</p>
      ) : behind.length === 0 ? (
        <p>Every subscriber is on this version. Saving a new price, allowance, surcharge, limits, overage or models makes a new version for new subscribers; those on this one keep it.</p>
      ) : (
        <p>
          <strong data-figure="behind">{plural(behind.length, 'subscriber')} on older versions</strong> keep what they bought until moved.{' '}
          <a class="button secondary" href={movePath(plan.slug)}>
            Move them to this version…
          </a>
        </p>
      )}
    </section>
  );
}

async function confirmPage(c: AdminContext, billing: Billing, slug: string, error?: string) {
  const plan = await billing.admin.getPlan(slug);
  const { version, behind }: PlanVersions = await billing.admin.planVersions(slug);
  const movable = behind.filter((b) => b.processor === null || b.processor === 'fake');
  const kept = behind.filter((b) => !movable.includes(b));
  const settings = await billing.admin.getSettings();
  return render(c, {
    title: `Move subscribers of ${plan.name} to version ${version}`,
    status: error ? 422 : 200,
    body: (
      <section class="card" id="move-confirm">
        {movable.length === 0 ? (
          <p>Nobody can be moved here.</p>
        ) : (
          <>
            <p>
              Version {version} of {plan.name}: <strong>{cents(plan.priceCents)} a month</strong>, {usd(includedMicros(plan))} of usage included, limits:{' '}
              {limitsText(plan.limits, settings)}. Moving puts {plural(movable.length, 'account')} on it: its limits, models and overage apply at
              once; the allowance of the period each paid for stays as granted, and from its next period each pays {cents(plan.priceCents)} and gets{' '}
              {usd(includedMicros(plan))}.
            </p>
            <table class="grid" id="move-accounts">
              <thead>
                <tr>
                  <th>Account</th>
                  <th>Now on</th>
                  <th class="num">Price now</th>
                  <th class="num">Included now</th>
                  <th class="num">From its next period</th>
                </tr>
              </thead>
              <tbody>
                {movable.map((b) => (
                  <tr data-account={b.accountId}>
                    <td>
                      <a href={`/admin/accounts/${encodeURIComponent(b.accountId)}`}>{b.accountId}</a>
                    </td>
                    <td>version {b.version}</td>
                    <td class="num">{cents(b.priceCents)}</td>
                    <td class="num">{usd(b.includedMicros)}</td>
                    <td class="num">
                      {cents(plan.priceCents)}, {usd(includedMicros(plan))} included
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
        {kept.length > 0 ? (
          <p id="move-kept">
            Not moved: {kept.map((b) => `${b.accountId} (version ${b.version}, ${cents(b.priceCents)} through ${b.processor})`).join(', ')}. Their processor bills the price they
            subscribed at; they move by changing their plan there.
          </p>
        ) : null}
        <form method="post" action={movePath(slug)} class="form" id="move">
          <Csrf token={c.get('csrf')} />
          <ErrorNote error={error} />
          {movable.length > 0 ? <button type="submit">Move {plural(movable.length, 'account')} to version {version}</button> : null} <a href={planPath(slug)}>Cancel</a>
        </form>
      </section>
    ),
  });
}

/** The confirm page and the move it confirms. */
export function planVersionRoutes(admin: AdminApp, billing: Billing) {
  admin.get('/plans/:slug/move', (c) => confirmPage(c, billing, c.req.param('slug')));
  admin.post('/plans/:slug/move', async (c) => {
    const slug = c.req.param('slug');
    const result = await attempt(async () => billing.admin.moveToCurrentVersion(slug));
    if (!result.ok) return confirmPage(c, billing, slug, result.error);
    const { version, moved, kept } = result.value;
    const left = kept.length ? `; ${plural(kept.length, 'account')} paying through a processor kept ${kept.length === 1 ? 'its' : 'their'} version` : '';
    return done(c, planPath(slug), `Moved ${plural(moved.length, 'account')} to version ${version}${left}.`);
  });
}
