/**
 * Payments: the processors accounts pay through here (where each takes payments, which one new
 * accounts get), the webhook URL to register with each, its catalog (the prices plans and packs
 * sell at there, synced with a button, with what the last sync did), and the events the
 * processors sent, newest first, with what became of each: applied, delivered again (duplicate,
 * nothing applied twice), ignored as of no interest or for no account of ours, or failed, with
 * the error, until the processor's retry. No key is ever shown.
 */
import type { Billing } from '../../engine/billing.ts';
import type { CatalogSyncState } from '../../engine/catalog/sync.ts';
import { cents, dateTime } from '../format.ts';
import { readForm } from '../form.ts';
import { attempt, Csrf, done, ErrorNote, render, type AdminContext, type Page } from '../layout.tsx';

const OUTCOME: Record<string, string> = { applied: 'Applied', ignored: 'Ignored', failed: 'Failed' };

/** What each real processor needs before it shows up here, and where its webhook is registered. */
const SETUP: Record<string, { keys: string; register: string }> = {
  stripe: { keys: 'STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET', register: 'in Stripe’s dashboard, Developers → Webhooks' },
  paddle: { keys: 'PADDLE_API_KEY and PADDLE_WEBHOOK_SECRET (PADDLE_ENVIRONMENT=sandbox to try it)', register: 'in Paddle, Developer tools → Notifications' },
};

const summary = (s: { created: number; linked: number; unchanged: number; archived: number }) =>
  `${s.created} created, ${s.linked} found and stored, ${s.unchanged} unchanged, ${s.archived} archived`;

async function page(c: AdminContext, billing: Billing, failed?: { processor: string; message: string }) {
  // The processor must reach the webhook where browsers reach this server: PUBLIC_URL when set (behind a proxy), else the address the panel was opened at.
  const origin = new URL(c.get('publicUrl') ?? c.req.url).origin;
  const processors = billing.admin.processors();
  const syncs = new Map<string, CatalogSyncState>((await billing.admin.catalogSyncs()).map((s) => [s.processor, s]));
  const missing = Object.keys(SETUP).filter((name) => !processors.some((p) => p.name === name));
  const events = await billing.admin.webhookEvents({ limit: 50 });
  const csrf = c.get('csrf');
  const synced = processors.flatMap((p) => {
    const last = syncs.get(p.name)?.last;
    return last ? [{ processor: p.name, last }] : [];
  });
  return render(c, {
    title: 'Payments',
    status: failed ? 422 : 200,
    body: (
      <>
        <p class="lead muted">The processors accounts pay through, and what their webhooks told this server. Each event is applied once, in the same transaction as what it changes.</p>
        <h2>Processors</h2>
        {/* A sync asked of a processor with no row here (not configured) is refused above the table. */}
        <ErrorNote error={failed && !processors.some((p) => p.name === failed.processor) ? failed.message : undefined} />
        <table class="grid processors">
          <thead>
            <tr>
              <th>Processor</th>
              <th>How it is paid</th>
              <th>Webhook URL to register</th>
              <th>Catalog</th>
            </tr>
          </thead>
          <tbody>
            {processors.map((p) => {
              const sync = syncs.get(p.name);
              // A failure since the last sync that went through; one just now is shown beside the button instead.
              const justFailed = failed?.processor === p.name;
              const lastFailed = !justFailed && sync?.failure && (!sync.last || sync.failure.at > sync.last.syncedAt) ? sync.failure : null;
              return (
                <tr data-processor={p.name}>
                  <td>
                    <strong>{p.name}</strong>
                    {p.isDefault ? <span class="badge">new accounts</span> : null}
                    {p.mode ? (
                      <>
                        <br />
                        <small class="muted">{p.mode}</small>
                      </>
                    ) : null}
                  </td>
                  <td>{p.name === 'fake' ? 'Charges nobody: every checkout completes at once (for the demo and tests).' : 'On the processor’s checkout page; the money moves when its webhook says it came in.'}</td>
                  <td>
                    {p.webhooks ? (
                      <>
                        <code>{`${origin}/webhooks/${p.name}`}</code>
                        {SETUP[p.name] ? (
                          <>
                            <br />
                            <small class="muted">Register it {SETUP[p.name]!.register}.</small>
                          </>
                        ) : null}
                      </>
                    ) : (
                      <span class="muted">none needed</span>
                    )}
                  </td>
                  <td class="catalog">
                    {p.catalog ? (
                      <>
                        {sync?.last ? (
                          <small data-sync="last">
                            Synced {dateTime(sync.last.syncedAt)}: {summary(sync.last)}.
                          </small>
                        ) : (
                          <small class="muted">{p.name === 'fake' ? 'Never synced (its checkout needs no price).' : 'Never synced: its checkout has no price until it is.'}</small>
                        )}
                        {lastFailed ? <div class="error-text" data-sync="failed">Failed {dateTime(lastFailed.at)}: {lastFailed.error}</div> : null}
                        <form method="post" action="/admin/payments/sync" class="inline compact">
                          <Csrf token={csrf} />
                          <input type="hidden" name="processor" value={p.name} />
                          <button type="submit" class="secondary">Sync catalog</button>
                        </form>
                        <ErrorNote error={justFailed ? failed.message : undefined} />
                      </>
                    ) : (
                      <span class="muted">none kept</span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {missing.length > 0 ? (
          <p class="muted not-configured">
            Not configured here:{' '}
            {missing.map((name, i) => (
              <>
                {i > 0 ? '; ' : ''}
                <strong>{name}</strong> (set {SETUP[name]!.keys}, then restart)
              </>
            ))}
            .
          </p>
        ) : null}

        {synced.map(({ processor, last }) => (
          <>
            <h2>Catalog at {processor}</h2>
            <table class="grid catalog-items" data-catalog={processor}>
              <thead>
                <tr>
                  <th>Plan or pack</th>
                  <th class="num">Price</th>
                  <th>Price at {processor}</th>
                  <th>Last sync ({dateTime(last.syncedAt)})</th>
                </tr>
              </thead>
              <tbody>
                {last.items.map((item) => (
                  <tr data-item={`${item.kind}:${item.slug}`}>
                    <td>
                      {item.name} <small class="muted">{item.kind} {item.slug}</small>
                    </td>
                    <td class="num">
                      {cents(item.priceCents)}
                      {item.kind === 'plan' ? ' a month' : ''}
                    </td>
                    <td>
                      <code>{item.priceId}</code>
                    </td>
                    <td>
                      {item.outcome === 'created' ? 'created' : item.outcome === 'linked' ? 'found and stored' : 'unchanged'}
                      {item.archived.length > 0 ? <small class="muted"> · archived {item.archived.join(', ')}</small> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ))}

        <h2>Webhook events</h2>
        {events.length === 0 ? (
          <p class="muted">No webhook event yet.</p>
        ) : (
          <table class="grid webhook-events">
            <thead>
              <tr>
                <th>Received (UTC)</th>
                <th>Processor</th>
                <th>Event</th>
                <th>Account</th>
                <th>Outcome</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr data-event={e.eventId} class={e.status === 'failed' ? 'failed' : undefined}>
                  <td>{dateTime(e.receivedAt)}</td>
                  <td>{e.processor}</td>
                  <td>
                    {e.type}
                    <br />
                    <small class="muted">{e.eventId}</small>
                  </td>
                  <td>{e.accountId ? <a href={`/admin/accounts/${encodeURIComponent(e.accountId)}`}>{e.accountId}</a> : <span class="muted">—</span>}</td>
                  <td>
                    <span class={`badge outcome ${e.status}`}>{OUTCOME[e.status]}</span>
                    {e.attempts > 1 ? <small class="muted"> after {e.attempts} deliveries</small> : null}
                    {e.duplicates > 0 ? (
                      <span class="badge outcome duplicate" title="Delivered again after it was applied: acknowledged, nothing applied twice">
                        duplicate ×{e.duplicates}
                      </span>
                    ) : null}
                    {e.error ? <div class="error-text">{e.error}</div> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </>
    ),
  });
}

export const paymentsPage: Page = (admin, billing) => {
  admin.get('/payments', (c) => page(c, billing));

  admin.post('/payments/sync', async (c) => {
    const processor = (await readForm(c)).processor ?? '';
    const result = await attempt(async () => billing.admin.syncCatalog(processor));
    if (!result.ok) return page(c, billing, { processor, message: result.error });
    return done(c, '/admin/payments', `Catalog synced to ${processor}: ${summary(result.value)}.`);
  });
};
