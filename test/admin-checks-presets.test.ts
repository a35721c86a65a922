/**
 * Checks before acting, over the panel's HTTP (no browser): applying a pricing mode shows, on its
 * card and on the page that asks to confirm it, the checks its result would raise, before
 * anything is applied; and a plan's token limit is checked against one call and, priced by the
 * price book at the margin, against what the plan includes — on the pricing page and in
 * billing.admin.checks() (GET /v1/admin/checks).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Billing } from '../src/index.ts';
import { AdminClient, adminApp, text } from './support/admin-client.ts';
import { ENGINES, useBilling } from './support/harness.ts';

describe('checks before a pricing mode is applied, and of token limits', () => {
  const t = useBilling(ENGINES[0]!);
  let billing: Billing;
  let admin: AdminClient;

  beforeEach(async () => {
    billing = t.billing;
    await billing.admin.applyPreset('credit-packs');
    admin = new AdminClient(await adminApp(billing));
    await admin.login();
  });

  /** The checks listed under a preset's preview in `html`, by data-check and subject. */
  const presetChecks = (html: string) =>
    [...(/class="preset-checks"[^]*?<\/div>/.exec(html)?.[0] ?? '').matchAll(/data-check="([^"]+)" data-subject="([^"]+)"/g)].map((m) => `${m[2]}:${m[1]}`);

  it('shows what applying a mode would leave wrong before it is applied, and applying it leaves exactly that', async () => {
    // An old pack of the slug subscription-plus-packs sells, archived, worth $30 for $10: the mode would sell it again, at a loss.
    await billing.admin.createPack({ slug: 'extra-10', name: 'Old extra', priceCents: 10_00, valueMicros: 30_000_000, status: 'archived' });
    expect(await billing.admin.checks()).toEqual([]);
    expect(await billing.admin.presetChecks('subscription-plus-packs')).toEqual([
      expect.objectContaining({ code: 'pack_loses_money', subject: { kind: 'pack', slug: 'extra-10' } }),
    ]);
    expect(await billing.admin.presetChecks('tiers')).toEqual([]);

    const confirm = await admin.page('/admin/pricing/subscription-plus-packs/apply');
    expect(presetChecks(confirm.html)).toEqual(['pack:extra-10:pack_loses_money']);
    expect(text(confirm.html)).toContain('Applying it would leave these to look at (applying is not refused for them):');
    const pricing = await admin.page('/admin/pricing');
    const card = (mode: string) => new RegExp(`data-mode="${mode}"[^]*?</section>`).exec(pricing.html)?.[0] ?? '';
    expect(presetChecks(card('subscription-plus-packs'))).toEqual(['pack:extra-10:pack_loses_money']);
    expect(text(card('tiers'))).toContain('Applying it leaves nothing new to look at in the plans and packs.');
    expect((await billing.admin.getPack('extra-10')).status).toBe('archived'); // nothing applied by looking

    await billing.admin.applyPreset('subscription-plus-packs');
    expect((await billing.admin.checks()).map((c) => `${c.subject.slug}:${c.code}`)).toEqual(['extra-10:pack_loses_money']);
  });

  it('checks a token limit against one call, and against what the plan includes at a priced model', async () => {
    // Pay as you go includes $0.10 a month. gpt-4o-mini ($0.15 in, $0.60 out per 1M tokens) at the 50% margin: a call of 3,000 in and 1,000 out is worth $0.0021.
    await billing.admin.updateSettings({ marginBps: 5000 });
    await billing.admin.updatePlan('payg', { limits: [{ window: 'month', unit: 'tokens', amount: 40_000 }] });
    expect((await billing.admin.checks()).map((c) => c.message)).toEqual([
      '“Pay as you go”\'s monthly limit of 40,000 tokens lets a subscriber make 10 calls of 3,000 input and 1,000 output tokens of gpt-4o-mini a month, worth $0.021: ' +
        '$0.079 of the $0.10 it includes can never be used in such calls.',
    ]);
    // A plan that names its models is said in the first it names outright.
    await billing.admin.updatePlan('payg', { models: ['claude-*', 'gpt-4.1-mini'], limits: [{ window: 'day', unit: 'tokens', amount: 2_000 }, { window: 'month', unit: 'tokens', amount: 40_000 }] });
    const checks = await billing.admin.checks();
    expect(checks.map((c) => c.code)).toEqual(['token_limit_below_call', 'token_limit_below_included']);
    expect(checks[1]!.message).toContain('of gpt-4.1-mini a month');
    const pricing = text((await admin.page('/admin/pricing')).html);
    expect(pricing).toContain('“Pay as you go”\'s daily limit of 2,000 tokens is less than one call of 3,000 input and 1,000 output tokens: every such call is refused');
  });

  it('warns on a plan form, as a token limit is typed and before it is saved, in dollars of the plan\'s model', async () => {
    // Plus ($20 a month, $20 included, all models): 100,000 tokens a day are 25 calls of gpt-4o-mini, 750 in 30 days, worth $1.575 at 50%.
    await billing.admin.createPlan({ slug: 'plus', name: 'Plus', priceCents: 20_00, overage: 'credits' });
    await admin.page('/admin/plans/plus');
    const { html } = await admin.post('/admin/checks/plan', { slug: 'plus', name: 'Plus', status: 'active', price: '20', surcharge: '0', overage: 'credits', sort: '0', dayTokens: '100,000' });
    expect(text(html).replace(/\s+/g, ' ')).toContain(
      '“Plus”\'s daily limit of 100,000 tokens lets a subscriber make 750 calls of 3,000 input and 1,000 output tokens of gpt-4o-mini in a 30-day month, worth $1.58: $18.43 of the $20.00 it includes can never be used in such calls.',
    );
    expect((await billing.admin.getPlan('plus')).limits).toEqual([]); // nothing saved
  });
});
