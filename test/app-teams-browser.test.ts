/**
 * The app kit in a real browser (Debian's chromium through playwright-core), with Tollgate in the
 * app's process on one embedded database: a new user signs up and gets a Tollgate account of
 * their own; makes a team (a Tollgate team account); invites someone by a link shown on screen;
 * the invited person signs up through the link and joins; the owner caps the member; the member
 * opens Billing and sees the team's pool but cannot buy, while the owner can; the account
 * switcher moves between the personal and the team account. Screenshots go to
 * test-artifacts/app/. Skipped, with a note, without /usr/bin/chromium.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApp } from '../app/start.ts';
import { APP_SHOTS as SHOTS, openAppBrowser, signUp, userIdOf, type AppBrowser } from './support/app-browser.ts';
import { haveChromium, noteMissingChromium } from './support/browser.ts';

noteMissingChromium("the app kit's browser tests are");

describe.skipIf(!haveChromium)('the app kit: sign-up, teams, invitations, caps, billing', () => {
  let world: AppBrowser;
  let app: RunningApp;
  const newPage = (width?: number, height?: number) => world.newPage(width, height);

  beforeAll(async () => {
    world = await openAppBrowser();
    app = world.app;
  });

  afterAll(() => world?.close());

  it('walks a new user through their account, a team, an invitation, a cap and the billing page', async () => {
    const billing = app.billing!;
    // 1. Anyone not logged in is sent to log in; a new user signs up and lands on their account.
    const ann = await newPage();
    await ann.goto(`${app.url}/team`);
    expect(new URL(ann.url()).pathname).toBe('/login');
    await ann.goto(`${app.url}/login`);
    await signUp(ann, 'Ann Archer', 'ann@example.com');
    await ann.waitForURL(`${app.url}/`);
    await expect.poll(() => ann.locator('h1').textContent()).toBe('Ann Archer');
    await expect.poll(() => ann.locator('[data-plan]').textContent()).toBe('Free');
    await ann.screenshot({ path: `${SHOTS}/1-new-user.png`, fullPage: true });
    // Their own Tollgate account, on the default plan.
    const annId = await userIdOf(app, 'ann@example.com');
    const personal = await billing.getAccount(`user_${annId}`);
    expect(personal).toMatchObject({ kind: 'personal', name: 'Ann Archer' });

    // Signing up twice with one email says what to do.
    const again = await newPage();
    await again.goto(`${app.url}/login`);
    await signUp(again, 'Ann Again', 'ann@example.com');
    await expect.poll(() => again.locator('.error').textContent()).toContain('log in instead');

    // 2. A team: its own Tollgate account, and the switcher now offers it.
    await ann.click('text=New team');
    await ann.fill('input[name=name]', "Ann's lab");
    await ann.click('text=Create the team');
    await ann.waitForURL(`${app.url}/team`);
    const teamAccount = (await ann.locator('select[name=account] option[selected]').getAttribute('value'))!;
    expect(teamAccount).toMatch(/^team_/);
    expect(await billing.getAccount(teamAccount)).toMatchObject({ kind: 'team', name: "Ann's lab" });

    // 3. An invitation is a link on screen.
    await ann.fill('input[name=email]', 'bob@example.com');
    await ann.click('text=Make an invitation link');
    const link = (await ann.locator('.note code.invite-link').textContent())!;
    expect(link).toMatch(new RegExp(`^${app.url}/invite/`));
    await ann.screenshot({ path: `${SHOTS}/2-team-invitation.png`, fullPage: true });

    // 4. Bob opens it logged out, signs up through it, and joins.
    const bob = await newPage(390, 800);
    await bob.goto(link);
    await bob.click('text=Log in or sign up');
    await signUp(bob, 'Bob Baker', 'bob@example.com');
    await bob.waitForURL(link);
    await expect.poll(() => bob.locator('h1').textContent()).toBe("Join Ann's lab");
    await bob.screenshot({ path: `${SHOTS}/3-join-phone.png`, fullPage: true });
    await bob.click('form[action$="/accept"] button');
    await bob.waitForURL(`${app.url}/`);
    await expect.poll(() => bob.locator('h1').textContent()).toBe("Ann's lab");
    await expect.poll(() => bob.locator('main').textContent()).toContain('You are its member');
    // A link used once opens nothing more.
    await bob.goto(link);
    await expect.poll(() => bob.locator('.error').textContent()).toContain('not valid any more');

    // 5. The owner caps Bob at 5 credits (5 cents) a day, typed in the app's display unit; a
    // wrong amount is said plainly and saves nothing.
    await ann.goto(`${app.url}/team`);
    const bobRow = ann.locator('tr[data-member="bob@example.com"]');
    await bobRow.locator('input[name=amount]').fill('five');
    await bobRow.locator('button').click();
    await expect.poll(() => ann.locator('.error').textContent()).toContain('"five" is not an amount of credits');
    // A long one is quoted whole, wrapped instead of widening the page.
    await ann.locator('tr[data-member="bob@example.com"] input[name=amount]').fill('x'.repeat(300));
    await ann.locator('tr[data-member="bob@example.com"] button').click();
    await expect.poll(() => ann.locator('.error').textContent()).toContain('x'.repeat(300));
    expect(await ann.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
    await ann.locator('tr[data-member="bob@example.com"] input[name=amount]').fill('5');
    await ann.locator('tr[data-member="bob@example.com"] button').click();
    await expect.poll(() => ann.locator('tr[data-member="bob@example.com"]').textContent()).toContain('Today: 0 of 5 credits');
    const bobId = await userIdOf(app, 'bob@example.com');
    const pool = await billing.balance(teamAccount);
    expect(pool.members).toEqual([expect.objectContaining({ userId: bobId, name: 'Bob Baker', limits: [expect.objectContaining({ window: 'day', unit: 'usd', amount: 50_000 })] })]);
    // A month's cap in tokens, set in the admin panel, shows here too, and the day's cap changed here keeps it.
    await billing.admin.setMemberLimits(teamAccount, bobId, [{ window: 'day', unit: 'usd', amount: 50_000 }, { window: 'month', unit: 'tokens', amount: 200_000 }]);
    await ann.goto(`${app.url}/team`);
    await expect.poll(() => ann.locator('tr[data-member="bob@example.com"]').textContent()).toContain('This month: 0 of 200,000 tokens');
    await ann.locator('tr[data-member="bob@example.com"] input[name=amount]').fill('6');
    await ann.locator('tr[data-member="bob@example.com"] button').click();
    await expect.poll(() => ann.locator('tr[data-member="bob@example.com"]').textContent()).toContain('Today: 0 of 6 credits');
    expect((await billing.balance(teamAccount)).members[0]!.limits.map(({ window, unit, amount }) => ({ window, unit, amount }))).toEqual([
      { window: 'day', unit: 'usd', amount: 60_000 }, { window: 'month', unit: 'tokens', amount: 200_000 },
    ]);
    await expect.poll(() => ann.locator('tr[data-member="bob@example.com"]').textContent()).toContain('This month: 0 of 200,000 tokens');
    // Emptied, it lifts the day's cap only.
    await ann.locator('tr[data-member="bob@example.com"] input[name=amount]').fill('');
    await ann.locator('tr[data-member="bob@example.com"] button').click();
    await expect.poll(async () => (await billing.balance(teamAccount)).members[0]?.limits.map((l) => l.window)).toEqual(['month']);
    await ann.locator('tr[data-member="bob@example.com"] input[name=amount]').fill('5');
    await ann.locator('tr[data-member="bob@example.com"] button').click();
    await expect.poll(() => ann.locator('tr[data-member="bob@example.com"]').textContent()).toContain('Today: 0 of 5 credits');
    await ann.screenshot({ path: `${SHOTS}/4-team-cap.png`, fullPage: true });
    await ann.setViewportSize({ width: 390, height: 800 });
    await ann.screenshot({ path: `${SHOTS}/4-team-cap-phone.png`, fullPage: true });
    await ann.setViewportSize({ width: 1280, height: 860 });

    // A member sees their own cap on the team's page, not what a colleague used of theirs (as on the billing page).
    await billing.admin.setMemberLimits(teamAccount, annId, [{ window: 'month', unit: 'usd', amount: 1_000_000 }]);
    await ann.goto(`${app.url}/team`);
    await expect.poll(() => ann.locator('tr[data-member="ann@example.com"]').textContent()).toContain('This month: 0 of 100 credits');
    await bob.goto(`${app.url}/team`);
    await expect.poll(() => bob.locator('tr[data-member="bob@example.com"]').textContent()).toContain('Today: 0 of 5 credits');
    expect(await bob.locator('tr[data-member="ann@example.com"]').textContent()).not.toMatch(/credits|none/);
    await billing.admin.setMemberLimits(teamAccount, annId, []);

    // An admin caps members, not the owner nor another admin: the page offers no such form, and a post is refused.
    await ann.goto(`${app.url}/team`);
    await ann.fill('input[name=email]', 'cat@example.com');
    await ann.selectOption('select[name=role]', 'admin');
    await ann.click('text=Make an invitation link');
    const catLink = (await ann.locator('.note code.invite-link').textContent())!;
    const cat = await newPage();
    await cat.goto(catLink);
    await cat.click('text=Log in or sign up');
    await signUp(cat, 'Cat Cole', 'cat@example.com');
    await cat.waitForURL(catLink);
    await cat.click('form[action$="/accept"] button');
    await cat.waitForURL(`${app.url}/`);
    await cat.goto(`${app.url}/team`);
    expect(await cat.locator('tr[data-member="ann@example.com"] form.cap').count()).toBe(0);
    expect(await cat.locator('tr[data-member="bob@example.com"] form.cap').count()).toBe(1);
    const capOwner = await cat.request.post(`${app.url}/team/members/${annId}/cap`, { form: { amount: '0' }, headers: { origin: app.url } });
    expect(capOwner.status()).toBe(400);
    expect(await capOwner.text()).toContain('Ann Archer is the team&#39;s owner: only a member&#39;s use of the pool is capped.');
    expect((await billing.balance(teamAccount)).members.map((m) => m.userId)).toEqual([bobId]);

    // A member may not invite or cap.
    const refused = await bob.request.post(`${app.url}/team/invitations`, { form: { email: 'eve@example.com', role: 'admin' }, headers: { origin: app.url } });
    expect(refused.status()).toBe(403);

    // 6. Billing: the member sees the team's pool and their cap, and no button that buys.
    await bob.goto(`${app.url}/`);
    await bob.click('nav.menu >> text=Billing');
    await bob.waitForURL(/\/billing/);
    const bobBilling = await bob.locator('body').textContent();
    expect(bobBilling).toContain("Ann's lab");
    expect(bobBilling).toContain('your cap');
    expect(await bob.locator('form[action="/billing/purchase"], form[action="/billing/plan"]').count()).toBe(0);
    await bob.screenshot({ path: `${SHOTS}/5-member-billing-phone.png`, fullPage: true });
    // The owner's billing page offers the plans.
    await ann.click('nav.menu >> text=Billing');
    await ann.waitForURL(/\/billing/);
    expect(await ann.locator('form[action="/billing/plan"]').count()).toBeGreaterThan(0);
    await ann.screenshot({ path: `${SHOTS}/6-owner-billing.png`, fullPage: true });

    // 7. The switcher: back to Bob's own account.
    await bob.goto(`${app.url}/`);
    await bob.selectOption('select[name=account]', { label: 'Bob Baker (personal)' });
    await bob.waitForURL(`${app.url}/`);
    await expect.poll(() => bob.locator('h1').textContent()).toBe('Bob Baker');
    // An account the viewer does not belong to cannot be switched to.
    await bob.request.post(`${app.url}/switch`, { form: { account: `user_${annId}` }, headers: { origin: app.url } });
    await bob.goto(`${app.url}/`);
    await expect.poll(() => bob.locator('h1').textContent()).toBe('Bob Baker');

    expect(world.problems).toEqual([]);
  });
});
