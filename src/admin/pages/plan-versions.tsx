/**
 * A plan's versions, on its page: how many subscribers are on older versions (what they bought,
 * kept until moved), the moves waiting for a renewal with a way to call each off, and a page that
 * says what moving them to this version does to whom, now or at each one's renewal, and asks to
 * confirm (engine/catalog/plan-versions.ts). The account's page shows its own move waiting.
 */
import type { Billing } from '../../engine/billing.ts';
import { movableNow, type BehindAccount } from '../../engine/catalog/plan-versions.ts';
import { includedMicros, isFree, type Plan } from '../../core/plan.ts';
import { cents, date, limitsText, usd } from '../format.ts';
import { readForm } from '../form.ts';
import { attempt, Csrf, done, ErrorNote, render, type AdminApp, type AdminContext } from '../layout.tsx';

const planPath = (slug: string) => `/admin/plans/${encodeURIComponent(slug)}`;
const movePath = (slug: string) => `${planPath(slug)}/move`;
const callOffPath = (slug: string) => `${planPath(slug)}/move/call-off`;
const accountPath = (id: string) => `/admin/accounts/${encodeURIComponent(id)}`;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
/** What a version sells a month: "$100.00 a month, $100.00 included". */
const terms = (p: { priceCents: number; includedMicros: number }) => `${cents(p.priceCents)} a month, ${usd(p.includedMicros)} included`;
const current = (plan: Plan) => ({ priceCents: plan.priceCents, includedMicros: includedMicros(plan) });

/** A button that calls off the account's move waiting, and comes back to `back`. */
function CallOff({ csrf, slug, accountId, back }: { csrf: string; slug: string; accountId: string; back: string }) {
  return (
    <form method="post" action={callOffPath(slug)} class="inline compact call-off">
      <Csrf token={csrf} />
      <input type="hidden" name="accountId" value={accountId} />
      <input type="hidden" name="back" value={back} />
      <button type="submit" class="secondary small">
        Call off
      </button>
    </form>
  );
}

/** On the plan's page: who is on an older version, the moves waiting for a renewal, and the way to move them. */
export async function PlanVersionsCard({ billing, plan, csrf }: { billing: Billing; plan: Plan; csrf: string }) {
  const { version, behind } = await billing.admin.planVersions(plan.slug);
  const waiting = behind.filter((b) => b.waiting);
  return (
    <section class="card" id="plan-versions">
      <h2>Version {version}</h2>
      {isFree(plan) && behind.length === 0 ? (
        <p>Its accounts are on this version, and on the next one as soon as it is saved: nobody paid for a free plan.</p>
      ) : behind.length === 0 ? (
        <p>Every subscriber is on this version. Saving a new price, allowance, surcharge, limits, overage or models makes a new version for new subscribers; those on this one keep it.</p>
      ) : (
        <p>
          <strong data-figure="behind">{plural(behind.length, 'subscriber')} on older versions</strong> keep what they bought until moved
          {waiting.length ? <>; {plural(waiting.length, 'moves', 'move')} to version {version} at {waiting.length === 1 ? 'its' : 'their'} renewal</> : null}.{' '}
          <a class="button secondary" href={movePath(plan.slug)}>
            Move them to this version…
          </a>
        </p>
      )}
      {waiting.length ? (
        <table class="grid" id="moves-waiting">
          <thead>
            <tr>
              <th>Moves at its renewal</th>
              <th>On</th>
              <th class="num">Pays now</th>
              <th class="num">From then</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {waiting.map((b) => (
              <tr data-account={b.accountId}>
                <td>
                  <a href={accountPath(b.accountId)}>{b.accountId}</a>
                </td>
                <td>{date(b.waiting!.at)}</td>
                <td class="num">{cents(b.priceCents)}</td>
                <td class="num">{cents(plan.priceCents)}</td>
                <td>
                  <CallOff csrf={csrf} slug={plan.slug} accountId={b.accountId} back={planPath(plan.slug)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

/** On the account's page: the move to a newer version of its plan waiting for its renewal, if one is, and the way to call it off. */
export async function VersionMoveNote({ billing, accountId, planSlug, csrf }: { billing: Billing; accountId: string; planSlug: string; csrf: string }) {
  const { behind } = await billing.admin.planVersions(planSlug);
  const mine = behind.find((b) => b.accountId === accountId);
  if (!mine?.waiting) return null;
  const plan = await billing.admin.getPlan(planSlug);
  return (
    <div class="note" id="version-move">
      On version {mine.version} of {plan.name} ({terms(mine)}): <strong>moves to version {mine.waiting.version} ({terms(current(plan))}) on {date(mine.waiting.at)}</strong>, when its
      next period opens{mine.processor && !movableNow(mine.processor) ? `; ${mine.processor} bills the new price from that invoice` : ''}.{' '}
      <CallOff csrf={csrf} slug={planSlug} accountId={accountId} back={accountPath(accountId)} />
    </div>
  );
}

/** Why an account cannot be moved now, if it cannot. */
const notNow = (b: BehindAccount) => (movableNow(b.processor) ? undefined : `pays through ${b.processor}: only at its renewal`);

async function confirmPage(c: AdminContext, billing: Billing, slug: string, error?: string) {
  const plan = await billing.admin.getPlan(slug);
  const { version, behind } = await billing.admin.planVersions(slug);
  const settings = await billing.admin.getSettings();
  const now = behind.filter((b) => !notNow(b));
  const atRenewal = behind.filter((b) => b.waiting?.version !== version);
  const csrf = c.get('csrf');
  return render(c, {
    title: `Move subscribers of ${plan.name} to version ${version}`,
    status: error ? 422 : 200,
    body: (
      <section class="card" id="move-confirm">
        {behind.length === 0 ? (
          <p>Every subscriber is on this version: nobody to move.</p>
        ) : (
          <>
            <p>
              Version {version} of {plan.name}: <strong>{cents(plan.priceCents)} a month</strong>, {usd(includedMicros(plan))} of usage included, limits:{' '}
              {limitsText(plan.limits, settings)}. {plural(behind.length, 'account')} {behind.length === 1 ? 'is' : 'are'} on an older version.
            </p>
            <ul class="plain">
              <li>
                <strong>Now</strong>: its limits, models and overage apply at once; the allowance of the period each paid for stays as granted, and from its next period
                each pays {cents(plan.priceCents)} and gets {usd(includedMicros(plan))}. Not for an account paying through Stripe or Paddle, whose processor bills the price
                it subscribed at.
              </li>
              <li>
                <strong>At its renewal</strong>: each keeps what it paid for to the end of its period, then is on version {version}; at Stripe or Paddle its price there
                changes now, with nothing billed, and the customer pays {cents(plan.priceCents)} from the next invoice. A move waiting can be called off until then.
              </li>
            </ul>
            <table class="grid" id="move-accounts">
              <thead>
                <tr>
                  <th>Account</th>
                  <th>Now on</th>
                  <th class="num">Price now</th>
                  <th class="num">Included now</th>
                  <th class="num">From the move</th>
                  <th>Move</th>
                </tr>
              </thead>
              <tbody>
                {behind.map((b) => (
                  <tr data-account={b.accountId}>
                    <td>
                      <a href={accountPath(b.accountId)}>{b.accountId}</a>
                      {b.processor && !movableNow(b.processor) ? <span class="badge">{b.processor}</span> : null}
                    </td>
                    <td>version {b.version}</td>
                    <td class="num">{cents(b.priceCents)}</td>
                    <td class="num">{usd(b.includedMicros)}</td>
                    <td class="num">{terms(current(plan))}</td>
                    <td>
                      {b.waiting?.version === version ? (
                        <>
                          at its renewal, {date(b.waiting.at)} <CallOff csrf={csrf} slug={slug} accountId={b.accountId} back={movePath(slug)} />
                        </>
                      ) : (
                        <form method="post" action={movePath(slug)} class="inline compact">
                          <Csrf token={csrf} />
                          <input type="hidden" name="accountId" value={b.accountId} />
                          <button type="submit" name="when" value="renewal" class="secondary small">
                            At its renewal
                          </button>
                          {notNow(b) ? null : (
                            <button type="submit" name="when" value="now" class="secondary small">
                              Now
                            </button>
                          )}
                        </form>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
        <form method="post" action={movePath(slug)} class="inline" id="move">
          <Csrf token={csrf} />
          <ErrorNote error={error} />
          {atRenewal.length > 0 ? (
            <button type="submit" name="when" value="renewal">
              Move {plural(atRenewal.length, 'account')} at {atRenewal.length === 1 ? 'its' : 'their'} renewal
            </button>
          ) : null}{' '}
          {now.length > 0 ? (
            <button type="submit" name="when" value="now" class="secondary">
              Move {plural(now.length, 'account')} now
            </button>
          ) : null}{' '}
          <a href={planPath(slug)}>Cancel</a>
        </form>
      </section>
    ),
  });
}

/** The confirm page, the moves it confirms, and calling off a move waiting. */
export function planVersionRoutes(admin: AdminApp, billing: Billing) {
  admin.get('/plans/:slug/move', (c) => confirmPage(c, billing, c.req.param('slug')));
  admin.post('/plans/:slug/move', async (c) => {
    const slug = c.req.param('slug');
    const form = await readForm(c);
    const when = form.when === 'renewal' ? 'renewal' : 'now';
    const result = await attempt(async () => billing.admin.moveToCurrentVersion(slug, { when, ...(form.accountId ? { accountId: form.accountId } : {}) }));
    if (!result.ok) return confirmPage(c, billing, slug, result.error);
    const { version, moved, waiting, kept } = result.value;
    const did = when === 'now' ? `Moved ${plural(moved.length, 'account')} to version ${version}` : `${plural(waiting.length, 'account')} ${waiting.length === 1 ? 'moves' : 'move'} to version ${version} at ${waiting.length === 1 ? 'its' : 'their'} renewal`;
    const left = kept.length ? `; ${kept.map((k) => `${k.accountId} stays on its version (${k.reason})`).join('; ')}` : '';
    return done(c, form.accountId ? movePath(slug) : planPath(slug), `${did}${left}.`);
  });
  admin.post('/plans/:slug/move/call-off', async (c) => {
    const slug = c.req.param('slug');
    const form = await readForm(c);
    const back = form.back?.startsWith('/admin/') ? form.back : planPath(slug);
    const result = await attempt(async () => billing.admin.callOffVersionMove(slug, form.accountId ?? ''));
    return done(c, back, result.ok ? `${form.accountId} stays on version ${result.value.version}: its move is called off.` : result.error);
  });
}
