/**
 * Joining a team by its invitation link: logged out, the link asks to log in or sign up (and
 * comes back here); logged in as the person invited, it names the team and the role, and one
 * button joins. Anyone else is told the link is for another email address.
 */
import type { Hono } from 'hono';
import type { Auth } from '../auth/auth.ts';
import { switchAccount, teamAccountId, type AppEnv } from '../auth/viewer.ts';
import { Problem, render } from './layout.tsx';

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function invitePages(app: Hono<AppEnv>, { auth }: { auth: Auth }) {
  app.get('/invite/:id', async (c) => {
    const viewer = c.get('viewer');
    const id = c.req.param('id');
    if (!viewer) {
      return render(
        c, 'Join a team', undefined,
        <>
          <p class="note">You are invited to join a team. Log in, or sign up, with the email address the invitation was made for.</p>
          <p><a class="button" href={`/login?next=/invite/${id}`}>Log in or sign up</a></p>
        </>,
      );
    }
    try {
      const invitation = await auth.api.getInvitation({ query: { id }, headers: viewer.headers });
      return render(
        c, 'Join a team', viewer,
        <section class="card narrow">
          <h1>Join {invitation.organizationName}</h1>
          <p>{invitation.inviterEmail} invited you as {invitation.role}: your chats in this team draw on its shared pool.</p>
          <form method="post" action={`/invite/${id}/accept`}>
            <button type="submit">Join {invitation.organizationName}</button>
          </form>
        </section>,
      );
    } catch (error) {
      const problem = /recipient/i.test(message(error))
        ? `This invitation is for another email address than ${viewer.user.email}: log out, then log in or sign up as the person invited.`
        : 'This invitation is not valid any more: it was used, withdrawn, or it expired. Ask for a new link.';
      return render(c, 'Join a team', viewer, <Problem message={problem} />, 400);
    }
  });

  app.post('/invite/:id/accept', async (c) => {
    const viewer = c.get('viewer')!;
    const accepted = await auth.api.acceptInvitation({ body: { invitationId: c.req.param('id') }, headers: viewer.headers });
    const teamId = accepted!.invitation.organizationId;
    switchAccount(c, teamAccountId(teamId));
    return c.redirect('/', 303);
  });
}
