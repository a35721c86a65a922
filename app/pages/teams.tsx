/**
 * Teams: make one (it becomes a Tollgate team account, whose members share one pool), see its
 * members and their roles, invite someone by a link shown here (no mail is sent: pass it on),
 * and, as its owner or an admin, cap what each member may use of the pool.
 */
import { randomBytes } from 'node:crypto';
import type { Context, Hono } from 'hono';
import type { Auth } from '../auth/auth.ts';
import { switchAccount, teamAccountId, type AppEnv, type Viewer } from '../auth/viewer.ts';
import { limitLines } from '../chat/display.ts';
import { displayAmount, displayToMicros, unitName } from '../tollgate/display.ts';
import type { Tollgate } from '../tollgate/tollgate.ts';
import { Problem, render } from './layout.tsx';

interface Deps {
  auth: Auth;
  tollgate: Tollgate;
}

const canManage = (viewer: Viewer) => viewer.current.kind === 'team' && viewer.current.role !== 'member';
const slugOf = (name: string) => `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'team'}-${randomBytes(3).toString('hex')}`;
const inviteLink = (c: Context, invitationId: string) => `${new URL(c.req.url).origin}/invite/${invitationId}`;
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

function NewTeam({ problem }: { problem?: string | undefined }) {
  return (
    <section class="card narrow">
      <h1>New team</h1>
      <p class="muted">A team has its own account: its members' chats draw on one shared pool, which its owner and admins pay for.</p>
      <form method="post" action="/teams">
        <label>Team name <input name="name" required maxlength={60} /></label>
        <button type="submit">Create the team</button>
      </form>
      <Problem message={problem} />
    </section>
  );
}

export function teamPages(app: Hono<AppEnv>, { auth, tollgate }: Deps) {
  app.get('/teams/new', (c) => render(c, 'New team', c.get('viewer'), <NewTeam />));

  app.post('/teams', async (c) => {
    const viewer = c.get('viewer')!;
    const name = String((await c.req.parseBody()).name ?? '').trim();
    if (!name) return render(c, 'New team', viewer, <NewTeam problem="Give the team a name." />, 400);
    const team = await auth.api.createOrganization({ body: { name, slug: slugOf(name) }, headers: viewer.headers });
    if (!team) return render(c, 'New team', viewer, <NewTeam problem="The team could not be made: try again." />, 400);
    await tollgate.ensureAccount({ id: teamAccountId(team.id), kind: 'team', name });
    switchAccount(c, teamAccountId(team.id));
    return c.redirect('/team', 303);
  });

  /**
   * The current team's page; `notice` and `problem` say what the last form did, and `typed` is what
   * a refused form held (a member's cap, by their user id, or an invitation's email), shown again.
   */
  async function teamPage(c: Context<AppEnv>, { notice, problem, typed = {} }: { notice?: unknown; problem?: string; typed?: { cap?: { userId: string; amount: string }; email?: string } } = {}) {
    const viewer = c.get('viewer')!;
    const { current } = viewer;
    if (current.kind !== 'team') return c.redirect('/', 303);
    const [team, balance, pricing] = await Promise.all([
      auth.api.getFullOrganization({ query: { organizationId: current.teamId! }, headers: viewer.headers }),
      tollgate.balance(current.id),
      tollgate.pricing(),
    ]);
    const manage = canManage(viewer);
    const pending = (team?.invitations ?? []).filter((i) => i.status === 'pending');
    return render(
      c, current.name, viewer,
      <>
        <h1>{current.name}</h1>
        <p class="muted">The team's pool has {displayAmount(balance.availableMicros, pricing)} available. You are its {current.role}.</p>
        {notice}
        <Problem message={problem} />
        <h2>Members</h2>
        <table class="members">
          <thead><tr><th>Name</th><th>Role</th><th>Cap on the pool</th></tr></thead>
          <tbody>
            {(team?.members ?? []).map((member) => {
              // Every cap the member has, wherever it was set (the admin panel sets month and token caps too).
              // A member sees only their own, as on the billing page: not what each colleague used.
              const shown = manage || member.userId === viewer.user.id;
              const caps = limitLines(balance.members.find((m) => m.userId === member.userId)?.limits ?? [], pricing, '');
              return (
                <tr data-member={member.user.email}>
                  <td>{member.user.name} <small class="muted">{member.user.email}</small></td>
                  <td>{member.role}</td>
                  <td>
                    {!shown ? null : caps.length > 0 ? caps.map((line) => <div class="cap-line">{line}</div>) : <span class="muted">none</span>}
                    {manage && member.role === 'member' && (
                      <form method="post" action={`/team/members/${member.userId}/cap`} class="inline cap">
                        <label>
                          <span class="sr">{unitName(pricing)} a day for {member.user.name}</span>
                          <input name="amount" inputmode="decimal" value={typed.cap?.userId === member.userId ? typed.cap.amount : undefined} placeholder={`${unitName(pricing)} a day`} size={10} aria-label={`${unitName(pricing)} a day for ${member.user.email}`} />
                        </label>
                        <button type="submit">Set cap</button>
                      </form>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {manage && (
          <>
            <h2>Invite someone</h2>
            <form method="post" action="/team/invitations" class="row">
              <label>Their email <input name="email" type="email" required value={typed.email} /></label>
              <label>
                Role
                <select name="role">
                  <option value="member">member: chats on the pool</option>
                  <option value="admin">admin: also pays and invites</option>
                </select>
              </label>
              <button type="submit">Make an invitation link</button>
            </form>
            {pending.length > 0 && (
              <>
                <h3>Waiting to join</h3>
                <ul class="invitations">
                  {pending.map((i) => (
                    <li>{i.email} as {i.role}: <code class="invite-link">{inviteLink(c, i.id)}</code></li>
                  ))}
                </ul>
              </>
            )}
          </>
        )}
      </>,
      problem ? 400 : 200,
    );
  }

  app.get('/team', (c) => teamPage(c));

  app.post('/team/invitations', async (c) => {
    const viewer = c.get('viewer')!;
    if (!canManage(viewer)) return c.text('Only the team\'s owner or an admin may invite', 403);
    const form = await c.req.parseBody();
    const role = form.role === 'admin' ? 'admin' : 'member';
    try {
      const invitation = await auth.api.createInvitation({ body: { email: String(form.email), role, organizationId: viewer.current.teamId! }, headers: viewer.headers });
      const link = inviteLink(c, invitation.id);
      return teamPage(c, {
        notice: <p class="note">Send this link to {invitation.email}; they join as {role} once they log in or sign up with that email: <code class="invite-link">{link}</code></p>,
      });
    } catch (error) {
      return teamPage(c, { problem: `The invitation was not made: ${message(error)}`, typed: { email: String(form.email ?? '') } });
    }
  });

  app.post('/team/members/:userId/cap', async (c) => {
    const viewer = c.get('viewer')!;
    if (!canManage(viewer)) return c.text('Only the team\'s owner or an admin may cap a member', 403);
    const text = String((await c.req.parseBody()).amount ?? '').trim();
    // The owner types the cap in the unit the app shows: dollars, or credits.
    const pricing = await tollgate.pricing();
    const micros = text === '' ? null : displayToMicros(text, pricing);
    if (micros === undefined) {
      return teamPage(c, { problem: `"${text}" is not an amount of ${unitName(pricing)}: write it like ${unitName(pricing) === 'dollars' ? '0.50' : '25'} (empty lifts the cap).`, typed: { cap: { userId: c.req.param('userId'), amount: text } } });
    }
    // The member by their name in Tollgate's pages, not their user id alone.
    const team = await auth.api.getFullOrganization({ query: { organizationId: viewer.current.teamId! }, headers: viewer.headers });
    const member = team?.members.find((m) => m.userId === c.req.param('userId'));
    if (!member) return teamPage(c, { problem: 'That person is not a member of this team.' });
    // As the page offers: an admin may not cap the owner, nor another admin.
    if (member.role !== 'member') return teamPage(c, { problem: `${member.user.name} is the team's ${member.role}: only a member's use of the pool is capped.` });
    // An empty amount lifts the cap; any other caps the member's use of the pool per day, 0 as
    // well: an owner who types 0 means the member may use none of it, not all of it.
    // The form sets the day's cap in money only: the member's other caps (a month's, or in tokens,
    // set in the admin panel) stay, as setMemberLimits would otherwise replace them all.
    const others = (await tollgate.balance(viewer.current.id)).members.find((m) => m.userId === member.userId)?.limits
      .filter((l) => !(l.window === 'day' && l.unit === 'usd'))
      .map(({ window, unit, amount }) => ({ window, unit, amount })) ?? [];
    await tollgate.setMemberLimits(viewer.current.id, member.userId, [...(micros === null ? [] : [{ window: 'day' as const, unit: 'usd' as const, amount: micros }]), ...others], member.user.name);
    return teamPage(c, { notice: <p class="note">Cap saved.</p> });
  });
}
