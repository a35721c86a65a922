/**
 * The admin panel's actions that reach many accounts or end a subscription ask first, over HTTP
 * with a session: applying a pricing mode, archiving a plan or a pack and canceling an account's
 * plan each answer a page that says whom it reaches (how many accounts, the first few, the
 * amounts) and change nothing; only the form that page posts, with its CSRF token (and, for a
 * cancel, its effect key), acts. A save of the edit form that archives asks the same; a pricing
 * mode confirmed on a page whose diff changed since is not applied, and the page asks again.
 */
import type { Hono } from 'hono';
import { beforeEach, describe, expect, it } from 'vitest';
import { ENGINES, useBilling } from './support/harness.ts';
import { completed } from './support/spend.ts';
import { AdminClient, adminApp, text } from './support/admin-client.ts';
import { dateTime } from '../src/admin/format.ts';

/** The hidden fields of the form `id` on a page, as the browser would post them. */
function formFields(html: string, id: string): { action: string; fields: Record<string, string> } {
  const form = new RegExp(`<form[^>]*action="([^"]+)"[^>]*id="${id}"[^>]*>([^]*?)</form>`).exec(html);
  if (!form) throw new Error(`no form #${id}`);
  const fields: Record<string, string> = {};
  for (const [, name, value] of form[2]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields[name!] = value!;
  return { action: form[1]!, fields };
}

describe('the admin panel asks to confirm what reaches accounts', () => {
  const t = useBilling(ENGINES[0]!);
  let app: Hono;
  let admin: AdminClient;
  const SUBSCRIBERS = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7'];

  beforeEach(async () => {
    const { billing } = t;
    await billing.admin.applyPreset('subscription-plus-packs');
    for (const id of SUBSCRIBERS) {
      await billing.upsertAccount({ id, kind: 'personal' });
      completed(await billing.subscribe(id, 'plus', { idempotencyKey: `${id}-plus` }));
    }
    // Two of them hold a pack each ($10.00, 1,000 credits), and a bonus that is no pack's.
    for (const id of ['a1', 'a2']) {
      completed(await billing.purchase(id, 'extra-10', { idempotencyKey: `${id}-pack` }));
      await billing.credit(id, { source: 'bonus', amountMicros: 3_000_000, reference: 'welcome' });
    }
    await billing.upsertAccount({ id: 'zed', kind: 'personal' }); // on the free plan
    app = await adminApp(billing);
    admin = new AdminClient(app);
    await admin.login();
  });

  it('applies a pricing mode only once confirmed, after a page listing each change and the accounts it reaches', async () => {
    const { billing } = t;
    // The free plan as the tiers mode will put it back: its included value changed.
    await billing.admin.updatePlan('free', { includedMicros: 1_000_000 });
    const pricing = (await admin.page('/admin/pricing')).html;
    expect(pricing).toContain('href="/admin/pricing/tiers/apply"');
    expect(pricing).not.toMatch(/<form method="post" action="\/admin\/pricing"/);

    const page = await admin.page('/admin/pricing/tiers/apply');
    expect(page.status).toBe(200);
    const shown = text(page.html);
    expect(shown).toContain('Confirm: apply “$20 / $100 / $200 tiers”');
    // What it changes, old → new, and who is on each plan it changes or takes off sale.
    expect(shown).toMatch(/Free plan included value 100 credits \(\$1\.00\) → 50 credits \(\$0\.50\) 1 account \( zed \) on it/);
    expect(shown).toMatch(/Plus plan off sale \(legacy\): the accounts on it stay on it, as it is 7 accounts \( a1 , a2 , a3 , a4 , a5 and 2 more\) on it/);
    expect(shown).toMatch(/1,000 extra credits pack archived: no longer sold; its credit stays spendable 2 accounts \( a1 , a2 \) with 2,000 credits \(\$20\.00\) of its credit unspent/);
    expect(shown).toMatch(/Creates Starter plan — \$20\.00\/month/);
    expect(page.html).toContain('href="/admin/accounts/a5"');
    expect(page.html).not.toContain('href="/admin/accounts/a6"');
    // Reading it changed nothing.
    expect((await billing.admin.getSettings()).pricingMode).toBe('subscription-plus-packs');
    expect((await billing.admin.getPlan('plus')).status).toBe('active');
    expect((await admin.page('/admin/pricing/nothing/apply')).status).toBe(404);

    const { action, fields } = formFields(page.html, 'apply');
    expect(fields).toEqual({ _csrf: admin.csrf, mode: 'tiers', seen: expect.stringMatching(/^[\w-]{16}$/) });
    expect((await admin.post(action, { mode: 'tiers' }, { csrf: false })).status).toBe(403);
    expect((await billing.admin.getSettings()).pricingMode).toBe('subscription-plus-packs');
    // The catalog changed since the page was read: nothing is applied, and the page says what applying does now.
    await billing.admin.updatePlan('free', { includedMicros: 2_000_000 });
    const stale = await admin.post(action, fields, { csrf: false });
    expect(stale.status).toBe(422);
    expect(text(stale.html)).toContain('The plans or packs changed since that page: this is what applying it does now. Nothing was applied.');
    expect(text(stale.html)).toMatch(/Free plan included value 200 credits \(\$2\.00\) → 50 credits \(\$0\.50\) 1 account/);
    expect((await billing.admin.getSettings()).pricingMode).toBe('subscription-plus-packs');
    const again = formFields(stale.html, 'apply').fields;
    expect(again.seen).not.toBe(fields.seen);
    expect((await admin.post(action, again, { csrf: false })).status).toBe(303);
    expect((await billing.admin.getSettings()).pricingMode).toBe('tiers');
    expect((await billing.admin.getPlan('plus')).status).toBe('legacy');
    expect((await billing.admin.getPack('extra-10')).status).toBe('archived');
    expect((await billing.balance('a1')).plan.slug).toBe('plus');
  });

  it('archives a plan only once confirmed, after a page saying who is on it and that they stay', async () => {
    const { billing } = t;
    const edit = (await admin.page('/admin/plans/plus')).html;
    expect(edit).toContain('href="/admin/plans/plus/archive"');
    expect(edit).not.toContain('action="/admin/plans/plus/status"');
    const page = await admin.page('/admin/plans/plus/archive');
    expect(page.status).toBe(200);
    const shown = text(page.html);
    expect(shown).toMatch(/7 accounts \( a1 , a2 , a3 , a4 , a5 and 2 more\) are on Plus now/);
    expect(shown).toContain('The accounts on it stay on it, on its price, allowance and limits, and renew as before');
    expect((await billing.admin.getPlan('plus')).status).toBe('active');

    const { action, fields } = formFields(page.html, 'archive');
    expect(fields).toEqual({ _csrf: admin.csrf, status: 'archived' });
    expect((await admin.post(action, { status: 'archived' }, { csrf: false })).status).toBe(403);
    expect((await admin.post(action, fields, { csrf: false })).status).toBe(303);
    expect((await billing.admin.getPlan('plus')).status).toBe('archived');
    // Its subscribers stay on it.
    expect((await billing.balance('a7')).plan.slug).toBe('plus');
    expect((await admin.page('/admin/plans/plus')).html).toContain('Restore (put on sale)');

    // A plan nobody is on says so.
    await billing.admin.createPlan({ slug: 'lonely', name: 'Lonely', priceCents: 5_00 });
    expect(text((await admin.page('/admin/plans/lonely/archive')).html)).toMatch(/no account is on Lonely now/);
    expect((await admin.page('/admin/plans/lonely/archive')).html).not.toContain('the default plan');
  });

  it('says, before the default plan goes off sale, that new accounts still start on it', async () => {
    const { billing } = t;
    const note = /Free is the default plan: every new account still starts on it, off sale or not\. To start them on another, choose it as the default plan in Settings first\./;
    expect(text((await admin.page('/admin/plans/free/archive')).html)).toMatch(note);
    await admin.page('/admin/plans/free');
    const legacy = await admin.post('/admin/plans/free', { name: 'Free', slug: 'free', price: '0', included: '0.5', overage: 'block', status: 'legacy', sort: '0', public: 'on', models: 'gpt-4o-mini\nclaude-*' });
    expect(text(legacy.html)).toMatch(note);
    // As it says: archived, it is still where a new account starts.
    const { action, fields } = formFields((await admin.page('/admin/plans/free/archive')).html, 'archive');
    expect((await admin.post(action, fields, { csrf: false })).status).toBe(303);
    await billing.upsertAccount({ id: 'newcomer', kind: 'personal' });
    expect((await billing.balance('newcomer')).plan).toMatchObject({ slug: 'free', status: 'archived' });
  });

  it('asks the same before a save of the edit form that archives a plan, and saves it whole once confirmed', async () => {
    const { billing } = t;
    await admin.page('/admin/plans/plus');
    const edited = { name: 'Plus (old)', slug: 'plus', price: '20', surcharge: '0', overage: 'credits', status: 'archived', models: 'gpt-4o-mini\nclaude-*', sort: '1', public: 'on' };
    const asked = await admin.post('/admin/plans/plus', edited);
    expect(asked.status).toBe(200);
    expect(text(asked.html)).toMatch(/Saving the form archives Plus, with its other changes\. 7 accounts .* are on Plus now/);
    expect(await billing.admin.getPlan('plus')).toMatchObject({ status: 'active', name: 'Plus' });

    const { action, fields } = formFields(asked.html, 'archive');
    expect(action).toBe('/admin/plans/plus');
    expect(fields).toEqual({ _csrf: admin.csrf, ...edited, confirmed: 'archive' });
    expect((await admin.post(action, fields, { csrf: false })).status).toBe(303);
    expect(await billing.admin.getPlan('plus')).toMatchObject({ status: 'archived', name: 'Plus (old)', models: ['gpt-4o-mini', 'claude-*'] });
  });

  it('asks before a save that makes a new version, naming the subscribers who keep theirs, and saves it whole once confirmed', async () => {
    const { billing } = t;
    await admin.page('/admin/plans/plus');
    const plus = { name: 'Plus', slug: 'plus', price: '20', surcharge: '0', overage: 'credits', status: 'active', sort: '1', public: 'on' };
    // A change of name or order alone makes no version: saved at once.
    expect((await admin.post('/admin/plans/plus', { ...plus, name: 'Plus+' })).status).toBe(303);
    const asked = await admin.post('/admin/plans/plus', { ...plus, name: 'Plus+', price: '25', dayUsd: '2' });
    expect(asked.status).toBe(200);
    expect(text(asked.html)).toMatch(
      /Saving makes version 2 of Plus\+, for new subscribers: price \$20\.00 → \$25\.00; included value 2,000 credits \(\$20\.00\) → 2,500 credits \(\$25\.00\); limits none → 200 credits \(\$2\.00\) a day\. 7 accounts \( a1 , a2 , a3 , a4 , a5 and 2 more\) on it keep the versions they are on, as bought, until you move them/,
    );
    expect(await billing.admin.getPlan('plus')).toMatchObject({ priceCents: 20_00, limits: [] }); // asking saves nothing
    const { action, fields } = formFields(asked.html, 'save');
    expect(fields).toMatchObject({ price: '25', dayUsd: '2', confirmed: 'save' });
    expect((await admin.post(action, fields, { csrf: false })).status).toBe(303);
    expect(await billing.admin.getPlan('plus')).toMatchObject({ priceCents: 25_00, limits: [{ window: 'day', unit: 'usd', amount: 2_000_000 }] });
    expect((await billing.balance('a1')).plan).toMatchObject({ priceCents: 20_00, limits: [] }); // a subscriber keeps the version it bought
  });

  it("names the included value a surcharge takes from subscribers, when included usage is left to follow the price", async () => {
    await admin.page('/admin/plans/plus');
    const asked = await admin.post('/admin/plans/plus', { name: 'Plus', slug: 'plus', price: '20', surcharge: '5', overage: 'credits', status: 'active', sort: '1', public: 'on' });
    expect(text(asked.html)).toMatch(/for new subscribers: surcharge \$0\.00 → \$5\.00; included value 2,000 credits \(\$20\.00\) → 1,500 credits \(\$15\.00\)\. 7 accounts/);
    // Set explicitly, the included usage stays as typed: nothing more to say than the surcharge.
    const kept = await admin.post('/admin/plans/plus', { name: 'Plus', slug: 'plus', price: '20', surcharge: '5', included: '20', overage: 'credits', status: 'active', sort: '1', public: 'on' });
    expect(text(kept.html)).toMatch(/for new subscribers: surcharge \$0\.00 → \$5\.00; included value price − surcharge → 2,000 credits \(\$20\.00\)\. 7 accounts/);
  });

  it('asks before putting a plan off sale as legacy, saying its subscribers stay on it', async () => {
    const { billing } = t;
    await admin.page('/admin/plans/plus');
    const asked = await admin.post('/admin/plans/plus', { name: 'Plus', slug: 'plus', price: '20', surcharge: '0', overage: 'credits', status: 'legacy', sort: '1', public: 'on' });
    expect(text(asked.html)).toMatch(/As legacy, Plus is off sale: nobody new can take it, and it leaves the pricing table\. 7 accounts .* on it stay on it/);
    expect(text(asked.html)).not.toMatch(/Saving makes version/);
    expect((await billing.admin.getPlan('plus')).status).toBe('active');
    const { action, fields } = formFields(asked.html, 'save');
    expect((await admin.post(action, fields, { csrf: false })).status).toBe(303);
    expect((await billing.admin.getPlan('plus')).status).toBe('legacy');
  });

  it('a mode switch offers to keep subscribers on their versions (the default) or move them at renewal, naming them with what they pay before and after', async () => {
    const { billing } = t;
    await billing.admin.applyPreset('usage-subscription');
    for (const id of ['ana', 'bo']) {
      await billing.upsertAccount({ id, kind: 'personal' });
      completed(await billing.subscribe(id, 'pro', { idempotencyKey: `${id}-pro` }));
    }
    const page = await admin.page('/admin/pricing/tiers/apply');
    expect(text(page.html)).toMatch(/Keep them on their versions \(recommended\): 2 accounts \( ana , bo \) go on paying \$20\.00 a month for Pro, as bought; new subscribers pay \$100\.00/);
    expect(text(page.html)).toMatch(/Move them at renewal : 2 accounts \( ana , bo \) pay \$20\.00 → \$100\.00 a month for Pro from their next period/);
    expect(page.html).toMatch(/<input type="radio" name="subscribers" value="keep" checked/);
    // Pro's sort key goes from 1 to 2 (Starter comes before it): a key, not a place in the table, so not told as a change.
    expect((await billing.admin.previewPreset('tiers')).plans.update.find((p) => p.slug === 'pro')?.changes).toContainEqual({ field: 'sort', from: 1, to: 2 });
    // What subscribers moved get for the new price is said beside it: the allowance follows the price.
    expect(text(page.html)).toContain('Changes Pro — price $20.00 → $100.00; included value $20.00 → $100.00; limits $20.00 a month → none Keeps as it is');
    expect(text(page.html)).toMatch(/pay \$20\.00 → \$100\.00 a month for Pro from their next period \(price \$20\.00 → \$100\.00; included value \$20\.00 → \$100\.00; limits/);
    expect(text(page.html)).not.toMatch(/order \d/);
    const { action, fields } = formFields(page.html, 'apply');
    const applied = await admin.post(action, { ...fields, subscribers: 'renewal' }, { csrf: false });
    expect(applied.status).toBe(303);
    expect(text((await admin.page('/admin/pricing')).html)).toMatch(/2 subscribers move to the new version at their renewal\./);
    expect((await billing.admin.planVersions('pro')).behind.map((b) => [b.accountId, b.waiting?.version])).toEqual([['ana', 2], ['bo', 2]]);
    expect((await billing.balance('ana')).plan.priceCents).toBe(20_00); // until the renewal
  });

  it('a mode switch that moves a plan only in the table\'s order says so, not its sort key', async () => {
    const { billing } = t;
    await billing.admin.updatePlan('plus', { sort: 7 });
    const shown = text((await admin.page('/admin/pricing/subscription-plus-packs/apply')).html);
    expect(shown).toContain('Changes Plus — only its place in the pricing table Keeps as it is');
    expect(shown).toMatch(/Plus plan only its place in the pricing table 7 accounts/);
    expect(shown).not.toMatch(/order \d/);
  });

  it('archives a pack only once confirmed, after a page saying who holds its credit, how much, and that it stays spendable', async () => {
    const { billing } = t;
    const page = await admin.page('/admin/packs/extra-10/archive');
    const shown = text(page.html);
    expect(shown).toMatch(/2 accounts \( a1 , a2 \) have credit left from 1,000 extra credits: 2,000 credits \(\$20\.00\) unspent and unexpired/);
    expect(shown).toContain('The credit already bought stays in its buckets and is spent as before');
    expect((await billing.admin.getPack('extra-10')).status).toBe('active');

    const { action, fields } = formFields(page.html, 'archive');
    expect((await admin.post(action, fields, { csrf: false })).status).toBe(303);
    expect((await billing.admin.getPack('extra-10')).status).toBe('archived');
    // What a1 bought is still there to spend.
    expect((await billing.balance('a1')).buckets.find((b) => b.source === 'pack')).toMatchObject({ remainingMicros: 10_000_000, usable: true });
    // Archived already: nothing to confirm.
    expect((await admin.page('/admin/packs/extra-10/archive')).status).toBe(303);
  });

  it('cancels a plan at its period end only once confirmed, after a page naming the account, the plan, the end and what follows', async () => {
    const { billing } = t;
    const account = (await admin.page('/admin/accounts/a3')).html;
    expect(account).toContain('href="/admin/accounts/a3/cancel"');
    expect(account).not.toContain('action="/admin/accounts/a3/cancel"');

    const page = await admin.page('/admin/accounts/a3/cancel');
    expect(page.status).toBe(200);
    const { period } = await billing.balance('a3');
    const shown = text(page.html);
    expect(shown).toMatch(/a3 is on Plus \(\$20\.00 a month, 2,000 credits \(\$20\.00\) included\), paid through fake/);
    expect(shown).toContain(`until the period ends, ${dateTime(period.end)} UTC`);
    expect(shown).toMatch(/Then it falls back to Free , the default plan \(free, 50 credits \(\$0\.50\) included; 10 credits \(\$0\.10\) a day, 50 credits \(\$0\.50\) a month\)/);
    expect((await billing.getAccount('a3')).planEndsAt).toBeNull();

    const { action, fields } = formFields(page.html, 'cancel');
    expect(Object.keys(fields).sort()).toEqual(['_csrf', 'idempotencyKey']);
    expect(fields.idempotencyKey).toMatch(/^admin_/);
    expect((await admin.post(action, { idempotencyKey: fields.idempotencyKey! }, { csrf: false })).status).toBe(403);
    expect((await billing.getAccount('a3')).planEndsAt).toBeNull();
    // Submitted twice with its key (a double click), it cancels once.
    for (let i = 0; i < 2; i++) expect((await admin.post(action, fields, { csrf: false })).status).toBe(303);
    expect((await billing.getAccount('a3')).planEndsAt).toEqual(period.end);
    expect((await billing.getAccount('a4')).planEndsAt).toBeNull();
    // Canceled already, or on a free plan: nothing to confirm.
    expect((await admin.page('/admin/accounts/a3/cancel')).status).toBe(409);
    expect((await admin.page('/admin/accounts/zed/cancel')).status).toBe(409);
  });
});
