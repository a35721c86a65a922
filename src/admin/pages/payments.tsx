/**
 * Payments: the processors accounts pay through here, the webhook URL to register with each,
 * and the events they sent, newest first, with what became of each (applied, ignored as of no
 * interest or for no account of ours, or failed, with the error, until the processor's retry).
 * No key is ever shown.
 */
import { dateTime } from '../format.ts';
import { render, type Page } from '../layout.tsx';

const OUTCOME: Record<string, string> = { applied: 'Applied', ignored: 'Ignored', failed: 'Failed' };

export const paymentsPage: Page = (admin, billing) => {
  admin.get('/payments', async (c) => {
    const origin = new URL(c.req.url).origin;
    const processors = billing.admin.processors();
    const events = await billing.admin.webhookEvents({ limit: 50 });
    return render(c, {
      title: 'Payments',
      body: (
        <>
          <p class="lead muted">The processors accounts pay through, and what their webhooks told this server. Each event is applied once, in the same transaction as what it changes.</p>
          <h2>Processors</h2>
          <table class="grid processors">
            <thead>
              <tr>
                <th>Processor</th>
                <th>How it is paid</th>
                <th>Webhook URL to register</th>
              </tr>
            </thead>
            <tbody>
              {processors.map((p) => (
                <tr data-processor={p.name}>
                  <td>
                    <strong>{p.name}</strong>
                  </td>
                  <td>{p.name === 'fake' ? 'Charges nobody: every checkout completes at once (for the demo and tests).' : 'On the processor’s checkout page; the money moves when its webhook says it came in.'}</td>
                  <td>{p.webhooks ? <code>{`${origin}/webhooks/${p.name}`}</code> : <span class="muted">none needed</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
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
  });
};
