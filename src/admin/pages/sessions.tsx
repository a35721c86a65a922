/**
 * Sessions: every session of the panel that still counts, when it began and from where, when it
 * was last used (written at most once a minute) and from where, and its browser; end one, or
 * all but this one. A new admin password ends them all.
 */
import { dateTime } from '../format.ts';
import { Csrf, done, render, type AdminApp, type AdminContext } from '../layout.tsx';
import type { SessionRow, Sessions } from '../session.ts';

function SessionsTable({ c, rows }: { c: AdminContext; rows: SessionRow[] }) {
  const current = c.get('session').id;
  return (
    <table class="grid sessions">
      <thead>
        <tr>
          <th>Began (UTC)</th>
          <th>Last used (UTC)</th>
          <th>Browser</th>
          <th>Ends (UTC)</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        {rows.map((s) => (
          <tr data-session={s.id}>
            <td>
              {dateTime(s.createdAt)}
              <br />
              <small class="muted">from {s.createdAddress}</small>
            </td>
            <td>
              {dateTime(s.lastUsedAt)}
              <br />
              <small class="muted">from {s.lastAddress}</small>
            </td>
            <td class="agent" title={s.userAgent}>
              {s.userAgent ? (s.userAgent.length > 120 ? `${s.userAgent.slice(0, 119)}…` : s.userAgent) : <span class="muted">unknown</span>}
            </td>
            <td>{dateTime(s.expiresAt)}</td>
            <td>
              {s.id === current ? (
                <span class="badge">This session</span>
              ) : (
                <form method="post" action={`/admin/sessions/${s.id}/end`} class="inline">
                  <Csrf token={c.get('csrf')} />
                  <button type="submit" class="danger">
                    End
                  </button>
                </form>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function sessionsPage(admin: AdminApp, sessions: Sessions) {
  admin.get('/sessions', async (c) => {
    const rows = await sessions.list();
    const others = rows.filter((s) => s.id !== c.get('session').id).length;
    return render(c, {
      title: 'Sessions',
      body: (
        <>
          <p class="lead muted">
            Everyone logged in to this panel, on every server process. A session lasts 12 hours; logging out ends it, and a new admin password ends them all.
          </p>
          <SessionsTable c={c} rows={rows} />
          {others > 0 ? (
            <form method="post" action="/admin/sessions/end-others" class="inline">
              <Csrf token={c.get('csrf')} />
              <button type="submit" class="danger">
                End all other sessions ({others})
              </button>
            </form>
          ) : null}
        </>
      ),
    });
  });

  admin.post('/sessions/end-others', async (c) => {
    const ended = await sessions.endOthers(c.get('session'));
    return done(c, '/admin/sessions', `Ended ${ended} other session${ended === 1 ? '' : 's'}.`);
  });

  admin.post('/sessions/:id/end', async (c) => {
    const ended = await sessions.endOther(c.get('session'), c.req.param('id'));
    return done(c, '/admin/sessions', ended ? 'Session ended.' : 'That session had ended already.');
  });
}
