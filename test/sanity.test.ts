/** The catalog's sanity checks, pure: each check at its edges, and its words. */
import { describe, expect, it } from 'vitest';
import type { Micros } from '../src/core/money.ts';
import type { Pack } from '../src/core/pack.ts';
import type { Limit, Plan } from '../src/core/plan.ts';
import { presetDiff, PRESETS } from '../src/core/presets.ts';
import { checksOfChange, checksOfPreset, checksRaised, eachProblemOnce, losesMoney, plansOnSale, plansSpending, sanityChecks, type Catalog } from '../src/core/sanity.ts';

let ids = 0;
function plan(slug: string, fields: Partial<Plan> = {}): Plan {
  return {
    id: ++ids, slug, name: slug, status: 'active', priceCents: 0, surchargeCents: 0, includedMicrosOverride: null, limits: [], overage: 'block',
    models: [], processorPrices: {}, public: true, sort: 0, ...fields,
  };
}
function pack(slug: string, fields: Partial<Pack> = {}): Pack {
  return { id: ++ids, slug, name: slug, status: 'active', priceCents: 10_00, valueMicrosOverride: null, expiresAfterDays: null, requiresPlan: false, processorPrices: {}, public: true, sort: 0, ...fields };
}
const free = plan('free', { includedMicrosOverride: 500_000 as Micros });
const credits = plan('plus', { priceCents: 20_00, overage: 'credits' });
const catalog = (c: Partial<Catalog>): Catalog => ({ plans: [free, credits], packs: [], settings: { marginBps: 5000, defaultPlanId: free.id }, ...c });
const codes = (c: Partial<Catalog>) => sanityChecks(catalog(c)).map((x) => `${x.subject.slug}:${x.code}`);
const usd = (window: Limit['window'], amount: number): Limit => ({ window, unit: 'usd', amount });

describe('losesMoney', () => {
  it('is a loss only past exact break-even: value × (1 − margin) against the price', () => {
    expect(losesMoney(20_000_000, 10_000_000, 5000)).toBe(false); // $20 of usage costs $10: break-even
    expect(losesMoney(20_000_001, 10_000_000, 5000)).toBe(true);
    expect(losesMoney(10_000_000, 10_000_000, 0)).toBe(false); // no margin: value is cost
    expect(losesMoney(10_000_001, 10_000_000, 0)).toBe(true);
    expect(losesMoney(100_000_000_000, 10_000_000, 9999)).toBe(false); // $100,000 of usage at 99.99% costs $10
    expect(losesMoney(100_000_000_001, 10_000_000, 9999)).toBe(true);
  });
});

describe('sanity checks', () => {
  it('finds nothing wrong with a sound catalog, the presets\' shapes included', () => {
    expect(codes({ packs: [pack('credits-10'), pack('bonus-50', { priceCents: 50_00, valueMicrosOverride: 55_000_000 as Micros })] })).toEqual([]);
    const pro = plan('pro', { priceCents: 20_00, limits: [usd('month', 20_000_000)] });
    const freeTier = plan('free2', { includedMicrosOverride: 500_000 as Micros, limits: [usd('day', 100_000), usd('month', 500_000)] });
    expect(sanityChecks({ plans: [freeTier, pro], packs: [], settings: { marginBps: 5000, defaultPlanId: freeTier.id } })).toEqual([]);
  });

  it('says a $5 plan that includes $500 of usage loses money, in dollars', () => {
    const cheap = plan('cheap', { name: 'Cheap', priceCents: 5_00, includedMicrosOverride: 500_000_000 as Micros });
    const [check] = sanityChecks(catalog({ plans: [free, credits, cheap] }));
    expect(check).toEqual({
      severity: 'warning', subject: { kind: 'plan', slug: 'cheap' }, code: 'plan_loses_money',
      message: '“Cheap” costs $5.00 a month and lets a subscriber use $500.00 of usage, which costs you $250.00 at the 50% margin: each subscriber who uses it all loses you $245.00 a month.',
    });
  });

  it('counts a plan\'s usage up to its monthly limit, and breaks even without a warning', () => {
    const capped = plan('capped', { priceCents: 5_00, includedMicrosOverride: 500_000_000 as Micros, limits: [usd('month', 10_000_000)] });
    expect(codes({ plans: [free, credits, capped] })).toEqual(['capped:limit_below_included']); // $10 of usage costs $5: break-even
    const even = plan('even', { priceCents: 10_00, includedMicrosOverride: 20_000_000 as Micros });
    expect(codes({ plans: [free, credits, even] })).toEqual([]);
    const [over] = sanityChecks(catalog({ plans: [free, credits, { ...even, includedMicrosOverride: 20_000_001 as Micros }] }));
    expect(over).toMatchObject({ code: 'plan_loses_money', message: expect.stringContaining('costs you just over $10.00 at the 50% margin: each subscriber who uses it all loses you $0.000001 a month') });
  });

  it('at a margin of 0 a plan loses money on any usage beyond its price, and a free plan never warns of it', () => {
    const over = plan('over', { priceCents: 10_00, includedMicrosOverride: 10_000_001 as Micros });
    expect(codes({ plans: [free, credits, over], settings: { marginBps: 0, defaultPlanId: free.id } })).toEqual(['over:plan_loses_money']);
    expect(codes({ plans: [plan('gift', { includedMicrosOverride: 900_000_000 as Micros }), credits], settings: { marginBps: 0, defaultPlanId: null } })).toEqual([]);
  });

  it('says a pack worth more than it costs at the margin loses money, and one worth less than its price sells nothing', () => {
    const [loses] = sanityChecks(catalog({ packs: [pack('big', { name: 'Big', priceCents: 10_00, valueMicrosOverride: 30_000_000 as Micros })] }));
    expect(loses!.message).toBe('The pack “Big” sells for $10.00 and gives $30.00 of usage, which costs you $15.00 at the 50% margin: each one used up loses you $5.00.');
    expect(codes({ packs: [pack('even', { priceCents: 10_00, valueMicrosOverride: 20_000_000 as Micros })] })).toEqual([]);
    const [less] = sanityChecks(catalog({ packs: [pack('tiny', { name: 'Tiny', priceCents: 10_00, valueMicrosOverride: 1_000_000 as Micros })] }));
    expect(less).toMatchObject({ code: 'pack_gives_less_than_price', message: 'The pack “Tiny” sells for $10.00 but gives only $1.00 of usage: a buyer pays $9.00 for nothing.' });
    expect(codes({ packs: [pack('bonus', { valueMicrosOverride: 10_000_001 as Micros })], settings: { marginBps: 0, defaultPlanId: free.id } })).toEqual(['bonus:pack_loses_money']);
  });

  it('finds a pack no plan on sale can spend, an add-on one included, and leaves an archived one alone', () => {
    const blockOnly = [free, plan('pro', { priceCents: 20_00 })];
    expect(codes({ plans: blockOnly, packs: [pack('extra')] })).toEqual(['extra:pack_not_spendable']);
    // The only plan that spends packs is free, and the add-on is sold only with a paid plan.
    const payg = plan('payg', { overage: 'credits' });
    expect(codes({ plans: [payg], packs: [pack('addon', { requiresPlan: true }), pack('any')], settings: { marginBps: 5000, defaultPlanId: payg.id } })).toEqual(['addon:pack_not_spendable']);
    // A plan off sale (legacy, archived or hidden) sells nothing.
    for (const off of [{ status: 'legacy' as const }, { status: 'archived' as const }, { public: false }]) {
      expect(codes({ plans: [free, { ...credits, ...off }], packs: [pack('extra')] })).toEqual(['extra:pack_not_spendable']);
    }
    expect(codes({ plans: blockOnly, packs: [pack('old', { status: 'archived' })] })).toEqual([]);
    // The default plan is on sale even when hidden: every new account is on it.
    const hiddenPayg = plan('hidden', { overage: 'credits', public: false });
    expect(codes({ plans: [hiddenPayg], packs: [pack('any')], settings: { marginBps: 5000, defaultPlanId: hiddenPayg.id } })).toEqual([]);
  });

  it('names two active plans called the same, whatever their case, but not a legacy one', () => {
    const a = plan('pro', { name: 'Pro', priceCents: 20_00 });
    const b = plan('pro-2', { name: ' pro ', priceCents: 20_00 });
    expect(codes({ plans: [free, credits, a, b] })).toEqual(['pro:duplicate_plan_name', 'pro-2:duplicate_plan_name']);
    expect(sanityChecks(catalog({ plans: [free, credits, a, b] }))[0]!.message).toBe('“Pro” is also the name of the active plan pro-2: customers cannot tell them apart.');
    expect(codes({ plans: [free, credits, a, { ...b, status: 'legacy' }] })).toEqual([]);
  });

  it('lists plans sharing a name as one problem, on the first of them, naming the others; each plan\'s form still says it of itself', () => {
    const plans = [free, credits, plan('pro', { name: 'Pro', priceCents: 20_00 }), plan('pro-2', { name: ' pro ', priceCents: 20_00 }), plan('pro-3', { name: 'PRO', priceCents: 20_00 }), plan('max', { name: 'Max', priceCents: 20_00 }), plan('max-2', { name: 'Max', priceCents: 20_00 })];
    const all = sanityChecks(catalog({ plans }));
    expect(all.filter((c) => c.code === 'duplicate_plan_name').map((c) => c.subject.slug)).toEqual(['pro', 'pro-2', 'pro-3', 'max', 'max-2']);
    const listed = eachProblemOnce(all, plans).filter((c) => c.code === 'duplicate_plan_name');
    expect(listed.map((c) => c.message)).toEqual([
      '“Pro” is also the name of the active plans pro-2, pro-3: customers cannot tell them apart.',
      '“Max” is also the name of the active plan max-2: customers cannot tell them apart.',
    ]);
    expect(eachProblemOnce(all, plans).filter((c) => c.code !== 'duplicate_plan_name')).toEqual(all.filter((c) => c.code !== 'duplicate_plan_name'));
  });

  it('finds a limit below what a plan includes, a daily one over a month, and one a blocking plan never reaches', () => {
    const pro = (limits: Limit[], overage: Plan['overage'] = 'block') => plan('pro', { name: 'Pro', priceCents: 100_00, limits, overage });
    const run = (p: Plan) => sanityChecks(catalog({ plans: [free, credits, p] }));
    expect(run(pro([usd('month', 20_000_000)]))[0]!.message).toBe('“Pro”\'s monthly limit of $20.00 is below the $100.00 it includes: $80.00 of it can never be used.');
    expect(run(pro([usd('month', 100_000_000)]))).toEqual([]);
    expect(run(pro([usd('day', 1_000_000)]))[0]!.message).toBe(
      '“Pro”\'s daily limit of $1.00 lets a subscriber use at most $30.00 in a 30-day month, which is below the $100.00 it includes: $70.00 of it can never be used.',
    );
    expect(run(pro([usd('day', 3_333_334)]))).toEqual([]); // $100.00002 over 30 days
    expect(run(pro([usd('month', 100_000_001)])).map((c) => c.code)).toEqual(['limit_never_reached']);
    expect(run(pro([usd('month', 200_000_000)], 'credits'))).toEqual([]); // credits take it past the allowance
    expect(run(pro([{ window: 'month', unit: 'tokens', amount: 1_000_000 }]))).toEqual([]); // tokens have no dollar value to compare without a priced call
  });

  it('warns of a default plan with a price', () => {
    const paid = plan('paid', { name: 'Paid', priceCents: 20_00 });
    const checks = sanityChecks(catalog({ plans: [paid, credits], settings: { marginBps: 5000, defaultPlanId: paid.id } }));
    expect(checks).toEqual([
      {
        severity: 'warning', subject: { kind: 'plan', slug: 'paid' }, code: 'default_plan_not_free',
        message: '“Paid” is the default plan, which new accounts are on without paying, yet it costs $20.00 a month: its $20.00 of usage is given away. Make a free plan the default.',
      },
    ]);
  });

  it('warns of a default plan taken off sale: new accounts and canceled plans still land on it', () => {
    for (const status of ['archived', 'legacy'] as const) {
      const off = { ...free, status };
      const checks = sanityChecks(catalog({ plans: [off, credits], settings: { marginBps: 5000, defaultPlanId: off.id } }));
      expect(checks.filter((c) => c.code === 'default_plan_off_sale')).toEqual([
        expect.objectContaining({ severity: 'warning', subject: { kind: 'plan', slug: 'free' }, message: expect.stringContaining(`yet it is ${status}`) }),
      ]);
    }
    expect(sanityChecks(catalog({ plans: [free, credits], settings: { marginBps: 5000, defaultPlanId: free.id } })).map((c) => c.code)).not.toContain('default_plan_off_sale');
  });

  it('knows the plans on sale and which can spend a pack', () => {
    const hidden = plan('hidden', { public: false, overage: 'credits' });
    expect(plansOnSale([free, hidden, { ...credits, status: 'legacy' }], free.id).map((p) => p.slug)).toEqual(['free']);
    expect(plansOnSale([free, hidden], hidden.id).map((p) => p.slug)).toEqual(['free', 'hidden']);
    expect(plansSpending({ requiresPlan: true }, [hidden, credits, free])).toEqual([credits]);
    expect(plansSpending({ requiresPlan: false }, [hidden, credits, free])).toEqual([hidden, credits]);
  });
});

describe('the checks of a change', () => {
  it('are those about the item as the form has it, and those it raises about others', () => {
    const packs = [pack('extra')];
    const base = catalog({ packs });
    expect(checksOfChange(base, { kind: 'plan', item: { ...credits, overage: 'block' } }).map((c) => `${c.subject.slug}:${c.code}`)).toEqual(['extra:pack_not_spendable']);
    // A problem that was there before, about another item, is not this change's.
    const broken = catalog({ plans: [free, credits, plan('twin', { name: 'plus' })], packs });
    expect(checksOfChange(broken, { kind: 'plan', item: { ...free, name: 'Free' } })).toEqual([]);
    // One about the item itself is, whether the change brought it or not.
    expect(checksOfChange(broken, { kind: 'plan', item: { ...credits, sort: 3 } }).map((c) => c.code)).toEqual(['duplicate_plan_name']);
    // A new item is added to the catalog for the check.
    const cheap = pack('new', { priceCents: 1_00, valueMicrosOverride: 5_000_000 as Micros });
    expect(checksOfChange(base, { kind: 'pack', item: cheap }).map((c) => c.code)).toEqual(['pack_loses_money']);
  });
});

describe('the checks a change of settings raises', () => {
  it('are those the new margin or default plan would bring, not those there already', () => {
    const cheap = plan('cheap', { priceCents: 10_00, includedMicrosOverride: 15_000_000 as Micros });
    const base = catalog({ plans: [free, credits, cheap], packs: [pack('bonus', { valueMicrosOverride: 12_000_000 as Micros })] });
    expect(sanityChecks(base)).toEqual([]);
    // At 30% margin $15 of usage costs $10.50 and the $12 pack's usage $8.40: only the plan loses money.
    expect(checksRaised(base, { ...base, settings: { marginBps: 3000, defaultPlanId: free.id } }).map((c) => c.message)).toEqual([
      '“cheap” costs $10.00 a month and lets a subscriber use $15.00 of usage, which costs you $10.50 at the 30% margin: each subscriber who uses it all loses you $0.50 a month.',
    ]);
    expect(checksRaised(base, { ...base, settings: { marginBps: 0, defaultPlanId: credits.id } }).map((c) => `${c.subject.slug}:${c.code}`)).toEqual([
      'plus:default_plan_not_free', 'cheap:plan_loses_money', 'bonus:pack_loses_money',
    ]);
  });
});

describe('token limits', () => {
  const tokens = (window: Limit['window'], amount: number): Limit => ({ window, unit: 'tokens', amount });
  const limited = (limits: Limit[]) => plan('free', { name: 'Free', includedMicrosOverride: 500_000 as Micros, limits });

  it('warns of a token limit below one call of 3,000 input and 1,000 output tokens: every such call is refused', () => {
    const tight = limited([tokens('day', 3_999)]);
    expect(sanityChecks(catalog({ plans: [tight, credits], settings: { marginBps: 5000, defaultPlanId: tight.id } }))).toEqual([{
      severity: 'warning', subject: { kind: 'plan', slug: 'free' }, code: 'token_limit_below_call',
      message: '“Free”\'s daily limit of 3,999 tokens is less than one call of 3,000 input and 1,000 output tokens: every such call is refused, whatever the plan includes.',
    }]);
    // One call fits exactly: the gate lets used + this call reach the limit.
    const fits = limited([tokens('month', 4_000)]);
    expect(sanityChecks(catalog({ plans: [fits, credits], settings: { marginBps: 5000, defaultPlanId: fits.id } }))).toEqual([]);
  });

  it('says, in dollars of a model, what a token limit leaves of the included usage, when the call is priced', () => {
    // gpt-4o-mini at 50%: a call of 3,000 in and 1,000 out costs $0.00105 and is worth $0.0021.
    const callValues = new Map([['free', { model: 'gpt-4o-mini', valueMicros: 2_100 }]]);
    const day = limited([tokens('day', 20_000)]); // 5 calls a day, 150 in 30 days: $0.315 of the $0.50
    const at = (p: Plan) => catalog({ plans: [p, credits], settings: { marginBps: 5000, defaultPlanId: p.id }, callValues });
    expect(sanityChecks(at(day))).toEqual([{
      severity: 'notice', subject: { kind: 'plan', slug: 'free' }, code: 'token_limit_below_included',
      message: '“Free”\'s daily limit of 20,000 tokens lets a subscriber make 150 calls of 3,000 input and 1,000 output tokens of gpt-4o-mini in a 30-day month, worth $0.315: ' +
        '$0.185 of the $0.50 it includes can never be used in such calls.',
    }]);
    // 239 calls a month are worth $0.5019: enough. 238 are worth $0.4998: not quite.
    expect(sanityChecks(at(limited([tokens('month', 239 * 4_000)])))).toEqual([]);
    expect(sanityChecks(at(limited([tokens('month', 238 * 4_000 + 3_999)]))).map((c) => c.code)).toEqual(['token_limit_below_included']);
    // Without a priced call, a token limit is not said in dollars.
    expect(sanityChecks({ ...at(day), callValues: undefined })).toEqual([]);
  });
});

describe('the checks of a preset, before it is applied', () => {
  const now = (c: Catalog) => ({ plans: c.plans, packs: c.packs, accountsOnPlan: new Map<number, number>() });

  it('are those the catalog it leaves has and the catalog has not now: a pack it puts back on sale that loses money', () => {
    // An archived pack of the preset's slug, worth $30 for $10: the preset sells it again, keeping its value.
    const old = pack('extra-10', { status: 'archived', valueMicrosOverride: 30_000_000 as Micros });
    const base = catalog({ packs: [old] });
    expect(sanityChecks(base)).toEqual([]);
    const raised = checksOfPreset(base, presetDiff(PRESETS['subscription-plus-packs'], now(base)));
    expect(raised.map((c) => `${c.subject.slug}:${c.code}`)).toEqual(['extra-10:pack_loses_money']);
    expect(raised[0]!.message).toContain('sells for $10.00 and gives $30.00 of usage, which costs you $15.00 at the 50% margin');
  });

  it('count the plans it creates, changes and takes off sale, and its default plan', () => {
    // Applied to a catalog with a loss-making plan it takes off sale, it raises nothing: that plan is legacy, still checked, as now.
    const lossy = plan('lossy', { priceCents: 5_00, includedMicrosOverride: 50_000_000 as Micros });
    const base = catalog({ plans: [free, credits, lossy], settings: { marginBps: 0, defaultPlanId: free.id } });
    expect(sanityChecks(base).map((c) => c.code)).toEqual(['plan_loses_money']);
    expect(checksOfPreset(base, presetDiff(PRESETS.tiers, now(base)))).toEqual([]);
    // At no margin at all, tiers' plans include their whole price: break-even, no loss; the free plan's $0.50 is given by design.
    expect(checksOfPreset(catalog({ plans: [], settings: { marginBps: 0, defaultPlanId: null } }), presetDiff(PRESETS.tiers, { plans: [], packs: [], accountsOnPlan: new Map() }))).toEqual([]);
    // A plan the preset changes is checked as it leaves it, its terms whole: Pro's old $20 limit goes with its new $100 price, and raises nothing.
    const pro = plan('pro', { name: 'Pro', priceCents: 20_00, limits: [usd('month', 20_000_000)] });
    const tiers = checksOfPreset(catalog({ plans: [free, pro] }), presetDiff(PRESETS.tiers, now(catalog({ plans: [free, pro] }))));
    expect(tiers).toEqual([]);
  });
});
