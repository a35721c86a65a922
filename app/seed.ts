/**
 * The demo's people, made once on a fresh database: an owner with a team, and a member of that
 * team whose use of the team's pool is capped. Each is a Tollgate account as any user is.
 */
import type { Auth } from './auth/auth.ts';
import { personalAccountId, teamAccountId } from './auth/viewer.ts';
import type { Tollgate } from './tollgate/tollgate.ts';

export const DEMO = {
  owner: { name: 'Olivia Owner', email: 'owner@example.com', password: 'tollchat-demo' },
  member: { name: 'Max Member', email: 'member@example.com', password: 'tollchat-demo' },
  team: { name: 'Demo team', slug: 'demo-team' },
  /**
   * The member's cap on the team's pool: a fifth of a cent a day (0.2 credits, at the preset's
   * cent a credit), which the demo model's answers meet after about ten: the quickest
   * way to see a refusal. The team's owner raises it on the team's page.
   */
  memberCapMicros: 2_000,
} as const;

/** Makes the demo people unless the owner exists already; says whether it made them. */
export async function seedDemo(auth: Auth, tollgate: Tollgate): Promise<boolean> {
  const { owner, member, team } = DEMO;
  const signUp = async (person: typeof owner | typeof member) => {
    const { user } = await auth.api.signUpEmail({ body: person });
    await tollgate.ensureAccount({ id: personalAccountId(user.id), kind: 'personal', name: user.name });
    return user;
  };
  const made = await auth.api.signInEmail({ body: { email: owner.email, password: owner.password } }).then(() => true, () => false);
  if (made) return false;
  const ownerUser = await signUp(owner);
  const memberUser = await signUp(member);
  const { headers } = await auth.api.signInEmail({ body: { email: owner.email, password: owner.password }, returnHeaders: true });
  const cookie = headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const created = await auth.api.createOrganization({ body: { name: team.name, slug: team.slug, userId: ownerUser.id }, headers: new Headers({ cookie }) });
  await auth.api.addMember({ body: { userId: memberUser.id, role: 'member', organizationId: created!.id } });
  const teamId = teamAccountId(created!.id);
  await tollgate.ensureAccount({ id: teamId, kind: 'team', name: team.name });
  await tollgate.setMemberLimits(teamId, memberUser.id, [{ window: 'day', unit: 'usd', amount: DEMO.memberCapMicros }], memberUser.name);
  return true;
}
