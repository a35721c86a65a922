/**
 * Plain words: a sample of the errors an owner meets in the admin panel, and the same mistakes
 * sent to the library (what the /v1 admin routes answer), say each field by its label and each
 * amount in dollars: no field name as the code spells it (marginBps, creditValueMicros,
 * rates.input…), no micro-dollar counts, and an amount merely too large is told it is too large,
 * with the most it can be, not that it is not an amount or not whole.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { ownerMessage } from '../src/admin/labels.ts';
import { BillingError, type Billing } from '../src/index.ts';
import { AdminClient, adminApp, text } from './support/admin-client.ts';
import { ENGINES, useBilling } from './support/harness.ts';

/** What a person should never read: the code's own field names and units. */
const CODE_WORDS = /\b(?:\w+(?:Micros|Cents|Bps|Seconds|Days)|fallbackRates|rates\.\w+|unknownModelPolicy|settings\.\w+|µ\$|2\^53)\b|µ\$/;

/** The error an admin call fails with. */
async function failure(run: () => Promise<unknown>): Promise<BillingError> {
  try {
    await run();
  } catch (error) {
    if (error instanceof BillingError) return error;
    throw error;
  }
  throw new Error('expected a BillingError');
}

describe('plain words in the admin panel', () => {
  const t = useBilling(ENGINES[0]!);
  let billing: Billing;
  let admin: AdminClient;

  beforeEach(async () => {
    billing = t.billing;
    await billing.admin.applyPreset('subscription-plus-packs');
    admin = new AdminClient(await adminApp(billing));
    await admin.login();
  });

  /** The error note a form shows after posting `fields` to `path`. */
  async function note(path: string, fields: Record<string, string>, action = path): Promise<string> {
    await admin.page(path);
    const { status, html } = await admin.post(action, fields);
    expect(status).toBe(422);
    const shown = /class="error"[^>]*>([^]*?)<\/p>/.exec(html)?.[1];
    expect(shown, `no error note on ${path}`).toBeDefined();
    return text(shown!).replace(/\s+/g, ' ').trim();
  }

  it('says a form field by its label and amounts in dollars, and an amount too large as too large', async () => {
    const settings = await admin.page('/admin/settings');
    expect(settings.status).toBe(200);
    const margin = await note('/admin/settings', { margin: '100', displayUnit: 'usd', creditValue: '0.01', unknownModelPolicy: 'refuse', minHold: '0.01', holdTtl: '600' });
    expect(margin).toBe('Margin: 100% is too high: a margin must be below 100% (99.99% at most), for at 100% no price covers the cost.');
    const credit = await note('/admin/settings', { margin: '50', displayUnit: 'credits', creditValue: '99999999999999', unknownModelPolicy: 'refuse', minHold: '0.01', holdTtl: '600' });
    expect(credit).toBe('A credit is worth: "99999999999999" is more than $9,007,199,254.74 (about $9 billion), the most it can be');
    const fallback = await note('/admin/settings', { margin: '50', displayUnit: 'usd', creditValue: '0.01', unknownModelPolicy: 'fallback', minHold: '0.01', holdTtl: '600' });
    expect(fallback).toMatch(/^Fallback price: must be given/);
    const surcharge = await note('/admin/plans/plus', { name: 'Plus', status: 'active', price: '1', surcharge: '5', overage: 'credits', sort: '1' });
    expect(surcharge).toContain('Surcharge: $5.00 is more than the price, $1.00');
    const rate = await note('/admin/prices', { model: 'house', provider: '', effectiveFrom: '2026-01-01', input: '0.3.3', output: '1' });
    expect(rate).toMatch(/^Input \(\$ per 1M tokens\): must be a decimal like "2\.5"/);
    await billing.upsertAccount({ id: 'acme', kind: 'team' });
    await billing.upsertAccount({ id: 'solo', kind: 'personal' });
    const member = await note('/admin/accounts/acme', { userId: '', dayUsd: '1' }, '/admin/accounts/acme/members');
    expect(member).toBe('Member (user id): must not be empty.');
    const personal = await note('/admin/accounts/solo', { userId: 'u_1', dayUsd: '1' }, '/admin/accounts/solo/members');
    expect(personal).toBe('Account "solo" is a personal account: members are capped on team accounts only');
    for (const shown of [margin, credit, fallback, surcharge, rate, member]) expect(shown).not.toMatch(CODE_WORDS);
  });

  it('says the library errors behind the panel and the /v1 admin routes in dollars, not micro-dollars, and a too-large amount as too large', async () => {
    const huge = await failure(() => billing.admin.updateSettings({ creditValueMicros: 2 ** 60 }));
    expect(huge.details?.issues).toEqual(['creditValueMicros: must be at most $9,007,199,254.74 (about $9 billion)']);
    expect(ownerMessage(huge)).toBe('A credit is worth: must be at most $9,007,199,254.74 (about $9 billion).');
    const fraction = await failure(() => billing.admin.createPack({ slug: 'p', name: 'P', priceCents: 1_00, valueMicros: 1.5 }));
    expect(ownerMessage(fraction)).toBe('Value: must be whole micro-dollars.');
    const negative = await failure(() => billing.admin.createPlan({ slug: 'x', name: 'X', priceCents: 1_00, includedMicros: -(2 ** 60) }));
    expect(ownerMessage(negative)).toBe('Included usage: must not be negative.');
    const fallback = await failure(() => billing.admin.updateSettings({ unknownModelPolicy: 'fallback' }));
    expect(fallback.message).toBe('Charging models the price book does not know at a fallback price needs that price: give its input and output rates ($ per 1M tokens)');
    const paidDefault = await failure(() => billing.admin.updateSettings({ defaultPlan: 'plus' }));
    const freeMadePaid = await failure(() => billing.admin.updatePlan('free', { priceCents: 5_00 }));
    for (const e of [fallback, paidDefault, freeMadePaid]) {
      expect(e.message).not.toMatch(CODE_WORDS);
      expect(ownerMessage(e)).not.toMatch(CODE_WORDS);
    }
    expect(ownerMessage(paidDefault)).toBe('Default plan: "plus" costs $20.00 a month, and accounts are on the default plan without paying: choose a free plan.');

    // A refund of more than a usage event has left says both in dollars.
    await billing.admin.setModelPrice({ provider: 'test', model: 'test-model', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1', output: '2' } });
    await billing.upsertAccount({ id: 'acme', kind: 'team' });
    await billing.credit('acme', { source: 'bonus', amountMicros: 1_000_000, reference: 'gift' });
    const event = await billing.record('acme', { model: 'test-model', provider: 'test', usage: { inputTokens: 78_000, outputTokens: 0 } }, { idempotencyKey: 'k' });
    const refund = await failure(() => billing.refund(event.usageEventId, { amountMicros: 5_000_000 }));
    expect(ownerMessage(refund)).toBe(`Usage event ${event.usageEventId} has $0.156 left to refund; asked for $5.00`);

    // A price so large a call's cost passes what an amount can be is told in dollars, not in powers of two of micro-dollars.
    // The dearest rate ($1,000,000 per 1M tokens), the most tokens of a call, at a 99.99% margin: $10 trillion of value.
    await billing.admin.setModelPrice({ provider: 'test', model: 'dear-model', effectiveFrom: '2020-01-01T00:00:00Z', rates: { input: '1000000', output: '1' } });
    await billing.admin.updateSettings({ marginBps: 9999 });
    const dear = await failure(() => billing.record('acme', { model: 'dear-model', provider: 'test', usage: { inputTokens: 1_000_000_000, outputTokens: 0 } }, { idempotencyKey: 'dear' }));
    expect(dear.message).toBe('The amount is more than $9,007,199,254.74 (about $9 billion), the most an amount can be');
  });
});
