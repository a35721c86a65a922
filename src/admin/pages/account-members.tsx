/**
 * A team's members and their caps, on its account page: each capped member with each cap's use
 * and holds, as the gate weighs them (balance().members), a button that lifts a member's caps,
 * and a form that sets them (a day's and a month's, in dollars or tokens; blank: no such cap).
 * The caps the form sets replace the member's; all blank lifts them (setMemberLimits). A member
 * shows by the name their caps were set with, their user id small beside it, which the admin
 * may need; by the id alone when they have none. A blank name keeps the one stored. A personal
 * account that was a team lists the caps it still has, to be lifted; none is set on it.
 */
import type { Billing } from '../../engine/billing.ts';
import type { Limit } from '../../core/plan.ts';
import type { Balance } from '../../engine/reads/reads.ts';
import type { Account } from '../../engine/rows.ts';
import { tokens, value, zonedDateTime, type Display } from '../format.ts';
import { microsField, readForm, wholeField, type Form } from '../form.ts';
import { attempt, Csrf, done, ErrorNote, Field, type AdminApp, type AdminContext } from '../layout.tsx';

const accountPath = (id: string) => `/admin/accounts/${encodeURIComponent(id)}`;

/** The form's fields: each a cap of one window and unit. */
const CAPS = [
  { name: 'dayUsd', window: 'day', unit: 'usd', label: 'A day, $' },
  { name: 'monthUsd', window: 'month', unit: 'usd', label: 'A month, $' },
  { name: 'dayTokens', window: 'day', unit: 'tokens', label: 'A day, tokens' },
  { name: 'monthTokens', window: 'month', unit: 'tokens', label: 'A month, tokens' },
] as const;

export interface MembersError {
  message: string;
  values: Form;
}

export function accountMembersSection(account: Account, balance: Balance, display: Display, { csrf, error }: { csrf: string; error?: MembersError | undefined }) {
  const team = account.kind === 'team';
  if (!team && balance.members.length === 0) {
    // A personal account has no members' form; a refused post to it still says why.
    return error ? (
      <section class="account-members" id="members">
        <h2>Members' caps</h2>
        <ErrorNote error={error.message} />
      </section>
    ) : null;
  }
  const values = error?.values ?? {};
  const show = (l: Limit, n: number) => (l.unit === 'usd' ? value(n, display) : `${tokens(n)} tokens`);
  return (
    <section class="account-members" id="members">
      <h2>Members' caps</h2>
      {team ? null : <p class="muted">Set while this account was a team, these caps still hold: lift them, or make it a team again to change them.</p>}
      {balance.members.length === 0 ? (
        <p class="muted">No member is capped: every member may use the whole team's pool, within its limits.</p>
      ) : (
        <table class="grid members">
          <thead>
            <tr>
              <th>Member</th>
              <th>Cap</th>
              <th class="num">Used</th>
              <th class="num">Held</th>
              <th>Resets ({account.timeZone})</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {balance.members.flatMap((m) =>
              m.limits.map((l, i) => (
                <tr data-member={m.userId}>
                  <td>{i === 0 ? <MemberName name={m.name} userId={m.userId} /> : null}</td>
                  <td>
                    {show(l, l.amount)} a {l.window}
                  </td>
                  <td class={l.used + l.held >= l.amount ? 'num owed' : 'num'}>{show(l, l.used)}</td>
                  <td class="num">{show(l, l.held)}</td>
                  <td>{zonedDateTime(l.resetsAt, account.timeZone)}</td>
                  <td>
                    {i === 0 ? (
                      <form method="post" action={`${accountPath(account.id)}/members/lift`} class="inline compact">
                        <Csrf token={csrf} />
                        <input type="hidden" name="userId" value={m.userId} />
                        <button type="submit" class="secondary">Lift caps</button>
                      </form>
                    ) : null}
                  </td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      )}
      {team ? (
        <form method="post" action={`${accountPath(account.id)}/members`} class="form card" id="member-caps">
          <h3>Set a member's caps</h3>
          <Csrf token={csrf} />
          <div class="row">
            <Field label="Member (user id)" name="userId" value={values.userId ?? ''} required hint="The userId the app sends with the member's calls." />
            <Field label="Name" name="name" value={values.name ?? ''} hint="Shown beside the caps; blank keeps the one they have." />
          </div>
          <div class="row">
            {CAPS.map((cap) => (
              <Field label={cap.label} name={cap.name} value={values[cap.name] ?? ''} step={cap.unit === 'usd' ? '0.000001' : '1'} />
            ))}
          </div>
          <p class="muted">These caps replace the member's own; blank: no such cap; all blank lifts them. Usage so far this day and month counts at once.</p>
          <ErrorNote error={error?.message} />
          <button type="submit">Set caps</button>
        </form>
      ) : (
        <ErrorNote error={error?.message} />
      )}
    </section>
  );
}

function MemberName({ name, userId }: { name: string | null; userId: string }) {
  if (name === null) return <code>{userId}</code>;
  return (
    <>
      {name} <small class="muted"><code>{userId}</code></small>
    </>
  );
}

/** POST …/members (set a member's caps) and …/members/lift; a refusal comes back beside the form (`refused`). */
export function accountMemberRoutes(admin: AdminApp, billing: Billing, refused: (c: AdminContext, accountId: string, error: MembersError) => Promise<Response>) {
  admin.post('/accounts/:id/members', async (c) => {
    const id = c.req.param('id');
    const form = await readForm(c);
    const result = await attempt(async () => {
      const limits: Limit[] = CAPS.flatMap((cap) => {
        const amount = cap.unit === 'usd' ? microsField(form, cap.name, cap.label) : wholeField(form, cap.name, cap.label);
        return amount === undefined ? [] : [{ window: cap.window, unit: cap.unit, amount }];
      });
      const name = form.name?.trim() ? form.name : undefined;
      // A typed or pasted id's spaces are not the app's: " u_7" capped a member no call is made by.
      return billing.admin.setMemberLimits(id, form.userId?.trim() ?? '', limits, { name });
    });
    if (!result.ok) return refused(c, id, { message: result.error, values: form });
    const { userId, limits } = result.value;
    return done(c, `${accountPath(id)}#members`, limits.length === 0 ? `Member ${userId} is no longer capped.` : `Member ${userId}'s caps are set.`);
  });

  admin.post('/accounts/:id/members/lift', async (c) => {
    const id = c.req.param('id');
    const form = await readForm(c);
    const result = await attempt(async () => billing.admin.setMemberLimits(id, form.userId ?? '', []));
    if (!result.ok) return refused(c, id, { message: result.error, values: {} });
    return done(c, `${accountPath(id)}#members`, `Member ${result.value.userId} is no longer capped.`);
  });
}
