/**
 * Hostile input at every facade call. fast-check draws each call's arguments from valid values
 * mixed, field by field and whole, with junk: NUL and unpaired surrogates in strings, very long
 * strings, NaN, infinities, negative and huge numbers, bigints, symbols, functions, Dates
 * (invalid, far past and far future), nested objects and arrays, wrong types. Against a seeded
 * catalog and existing accounts, each call must either succeed or throw a BillingError with a
 * code from the closed list: never another error, never a raw database error, never a throw
 * before its promise. Afterwards every account reconciles and still works: balance, authorize,
 * settle and record answer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BillingError, ERROR_CODES, type Billing } from '../src/index.ts';
import { MAX_CALL_TOKENS } from '../src/core/input.ts';
import { ENGINES, useBilling } from './support/harness.ts';

const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? 100);
const ACCOUNTS = ['acme', 'solo'] as const;

// ---------------------------------------------------------------------------------------------
// Junk

const LONE_SURROGATES = ['\ud800', '\udbff', '\udc00', '\udfff', '\ud83d'];
const nastyString = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.string({ maxLength: 6 }), fc.oneof(fc.constant('\u0000'), fc.constantFrom(...LONE_SURROGATES)), fc.string({ maxLength: 6 }))
      .map(([before, bad, after]) => before + bad + after),
  },
  fc.constantFrom('', ' ', 'x'.repeat(201), 'y'.repeat(5_000), 'acme\u0000', 'acme\ud800', '\ud800acme', 'NaN', '__proto__', 'constructor', '😀', '2026-03-01'),
);
const nastyNumber = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(
    Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1, -0, 0, 0.5, 1.5, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1, 2 ** 53,
    -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, MAX_CALL_TOKENS, MAX_CALL_TOKENS + 1, 1e21,
  ) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.maxSafeInteger() },
);
const nastyDate = fc.oneof(
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15) }),
  fc.constant(new Date(Number.NaN)),
  fc.date({ min: new Date('1999-12-01T00:00:00Z'), max: new Date('2000-01-02T00:00:00Z') }),
  fc.date({ min: new Date('2199-12-31T00:00:00Z'), max: new Date('2200-01-02T00:00:00Z') }),
);
const atom = fc.oneof(
  nastyString,
  nastyNumber,
  nastyDate,
  fc.bigInt(),
  fc.boolean(),
  fc.constantFrom(null, undefined, Symbol('junk'), () => 1, new Map([[1, 2]]), new Uint8Array(2), /x/, Object.create(null) as object),
);
const junk: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    atom,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(nastyString, tie('value'), { maxKeys: 3 }),
  ),
})).value;

/** A value where a valid one was due: mostly a bad string, number or date, else any junk. */
const hostile = fc.oneof(
  { arbitrary: nastyString, weight: 3 },
  { arbitrary: nastyNumber, weight: 3 },
  { arbitrary: nastyDate, weight: 1 },
  { arbitrary: junk, weight: 2 },
);

/** Mostly the valid value, sometimes a hostile one. */
const maybe = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ arbitrary: valid, weight: 4 }, { arbitrary: hostile, weight: 1 });

/** A hostile value in place of `valid`: most often a near miss of its own type. */
function hostileLike(valid: unknown): fc.Arbitrary<unknown> {
  const near = typeof valid === 'number' ? nastyNumber : typeof valid === 'string' ? nastyString : valid instanceof Date ? nastyDate : hostile;
  return fc.oneof({ arbitrary: near, weight: 3 }, { arbitrary: hostile, weight: 1 });
}

/**
 * An object of valid fields (keys not in `required` may be left out); more often one of its
 * fields hostile and the rest valid, so that each field's check is what is tried; now and then
 * with a field too many, or hostile as a whole.
 */
function object(shape: Record<string, fc.Arbitrary<unknown>>, required: string[] = Object.keys(shape)): fc.Arbitrary<unknown> {
  const valid = fc.record(shape, { requiredKeys: required });
  const oneBad = fc
    .tuple(valid, fc.constantFrom(...Object.keys(shape)))
    .chain(([record, key]) => hostileLike((record as Record<string, unknown>)[key]).map((value) => ({ ...record, [key]: value })));
  return fc.oneof(
    { arbitrary: valid, weight: 5 },
    { arbitrary: oneBad, weight: 3 },
    { arbitrary: fc.tuple(valid, nastyString, hostile).map(([r, key, value]) => ({ ...r, [key]: value })), weight: 1 },
    { arbitrary: hostile, weight: 1 },
  );
}

// ---------------------------------------------------------------------------------------------
// Valid values, against the seeded catalog (subscription-plus-packs)

const accountId = maybe(fc.constantFrom(...ACCOUNTS, 'nobody'));
const planSlug = maybe(fc.constantFrom('free', 'plus', 'nope', 'fuzz-plan'));
const packSlug = maybe(fc.constantFrom('extra-10', 'nope', 'fuzz-pack'));
const model = fc.constantFrom('gpt-4o-mini', 'gpt-4o', 'claude-3-5-haiku-latest', 'mystery-9000', ' gpt-4o-mini ');
const tokens = fc.oneof({ arbitrary: fc.integer({ min: 20, max: 5_000 }), weight: 4 }, fc.constantFrom(0, MAX_CALL_TOKENS, 1_000_000));
const usage = object(
  { inputTokens: tokens, outputTokens: tokens, cacheReadTokens: fc.integer({ min: 0, max: 10 }), cacheWriteTokens: fc.integer({ min: 0, max: 10 }), reasoningTokens: fc.integer({ min: 0, max: 10 }) },
  ['inputTokens', 'outputTokens'],
);
const key = fc.string({ minLength: 1, maxLength: 3 });
const metadata = maybe(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }));
const chargeOptions = object({ idempotencyKey: key, metadata }, ['idempotencyKey']);
const isoOrDate = fc.oneof(
  fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true }),
  fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2026-03-01', '2026-04-01T00:00:00+02:00'),
);
const money = fc.oneof(fc.integer({ min: 1, max: 10_000_000 }), fc.constantFrom(Number.MAX_SAFE_INTEGER));
const rate = fc.oneof(fc.integer({ min: 0, max: 100_000 }).map((n) => n / 1000), fc.constantFrom('0.15', '2.5', '0'));
const rates = object({ input: rate, output: rate, cacheRead: rate }, ['input', 'output']);
const limit = object({ window: fc.constantFrom('day', 'month'), unit: fc.constantFrom('usd', 'tokens'), amount: money });
const planInput = object(
  {
    slug: fc.constantFrom('fuzz-plan', 'free', 'plus', 'other-plan'),
    name: fc.string({ minLength: 1, maxLength: 10 }),
    status: fc.constantFrom('active', 'legacy', 'archived'),
    priceCents: fc.integer({ min: 0, max: 5_000 }),
    surchargeCents: fc.integer({ min: 0, max: 500 }),
    includedMicros: fc.option(money),
    limits: fc.array(limit, { maxLength: 2 }),
    overage: fc.constantFrom('block', 'credits'),
    models: fc.array(fc.constantFrom('gpt-4o-mini', 'claude-*', '*'), { maxLength: 2 }),
    processorPrices: fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
    public: fc.boolean(),
    sort: fc.integer({ min: -10, max: 10 }),
  },
  ['slug', 'name', 'priceCents'],
);
const packInput = object(
  {
    slug: fc.constantFrom('fuzz-pack', 'extra-10', 'other-pack'),
    name: fc.string({ minLength: 1, maxLength: 10 }),
    status: fc.constantFrom('active', 'archived'),
    priceCents: fc.integer({ min: 1, max: 5_000 }),
    valueMicros: fc.option(money),
    expiresAfterDays: fc.option(fc.integer({ min: 1, max: 400 })),
    requiresPlan: fc.boolean(),
    processorPrices: fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
    public: fc.boolean(),
    sort: fc.integer({ min: -10, max: 10 }),
  },
  ['slug', 'name', 'priceCents'],
);
const settingsInput = object(
  {
    marginBps: fc.integer({ min: 0, max: 9_000 }),
    displayUnit: fc.constantFrom('usd', 'credits'),
    creditValueMicros: fc.integer({ min: 1, max: 100_000 }),
    defaultPlan: fc.constantFrom('free', 'plus', 'nope'),
    unknownModelPolicy: fc.constantFrom('refuse', 'fallback'),
    fallbackRates: fc.option(rates),
    minHoldMicros: fc.integer({ min: 0, max: 100_000 }),
    holdTtlSeconds: fc.integer({ min: 10, max: 3_600 }),
    pricingMode: fc.option(fc.constantFrom('usage-subscription', 'credit-packs', 'subscription-plus-packs', 'tiers')),
  },
  [],
);

// ---------------------------------------------------------------------------------------------
// Every call of the facade, with the arbitraries of its arguments

interface Seeded {
  billing: Billing;
  holdIds: string[];
  eventIds: number[];
}

type Call = { args: fc.Arbitrary<unknown[]>; run: (s: Seeded, args: unknown[]) => Promise<unknown> };
const call = (args: fc.Arbitrary<unknown>[], run: Call['run']): Call => ({ args: fc.tuple(...args), run });
const holdIndex = fc.nat(4);
const pick = <T>(list: T[], index: unknown): unknown => (typeof index === 'number' && index < list.length ? list[index] : index);

const CALLS: Record<string, Call> = {
  upsertAccount: call(
    [object({ id: fc.constantFrom(...ACCOUNTS, 'new-one', ' padded '), kind: fc.constantFrom('personal', 'team'), name: fc.string({ maxLength: 10 }), timeZone: fc.constantFrom('UTC', 'Europe/Paris', 'Mars/Olympus') }, ['id', 'kind'])],
    ({ billing }, [input]) => billing.upsertAccount(input as never),
  ),
  getAccount: call([accountId], ({ billing }, [id]) => billing.getAccount(id as never)),
  authorize: call(
    [accountId, object({ model, provider: fc.constantFrom('openai', 'anthropic'), inputTokens: tokens, maxOutputTokens: tokens, userId: fc.string({ minLength: 1, maxLength: 5 }) }, ['model'])],
    ({ billing }, [id, input]) => billing.authorize(id as never, input as never),
  ),
  settle: call([maybe(holdIndex), usage, chargeOptions], ({ billing, holdIds }, [hold, u, opts]) => billing.settle(pick(holdIds, hold) as never, u as never, opts as never)),
  release: call([maybe(holdIndex)], ({ billing, holdIds }, [hold]) => billing.release(pick(holdIds, hold) as never)),
  record: call(
    [accountId, object({ model, provider: fc.constantFrom('openai', 'anthropic'), usage, userId: fc.string({ minLength: 1, maxLength: 5 }) }, ['model', 'usage']), chargeOptions],
    ({ billing }, [id, input, opts]) => billing.record(id as never, input as never, opts as never),
  ),
  recordBatch: call(
    [maybe(fc.array(object({ accountId, model, usage, idempotencyKey: key, metadata }, ['accountId', 'model', 'usage', 'idempotencyKey']), { maxLength: 3 }))],
    ({ billing }, [items]) => billing.recordBatch(items as never),
  ),
  refund: call(
    [maybe(fc.nat(3)), fc.option(object({ amountMicros: money }, []), { nil: undefined })],
    ({ billing, eventIds }, [event, input]) => billing.refund(pick(eventIds, event) as never, input as never),
  ),
  balance: call([accountId], ({ billing }, [id]) => billing.balance(id as never)),
  usage: call(
    [accountId, object({ from: isoOrDate, to: isoOrDate, groupBy: fc.constantFrom('model', 'day', 'user') }, ['from', 'to'])],
    ({ billing }, [id, query]) => billing.usage(id as never, query as never),
  ),
  reconcile: call([accountId], ({ billing }, [id]) => billing.reconcile(id as never)),
  canStart: call(
    [accountId, fc.option(object({ model, provider: fc.constantFrom('openai', 'anthropic'), userId: fc.string({ minLength: 1, maxLength: 5 }) }, []), { nil: undefined })],
    ({ billing }, [id, input]) => billing.canStart(id as never, input as never),
  ),
  expireCredit: call([fc.option(junk)], ({ billing }, [extra]) => (billing.expireCredit as (...args: unknown[]) => Promise<unknown>)(extra)),
  subscribe: call([accountId, planSlug], ({ billing }, [id, slug]) => billing.subscribe(id as never, slug as never)),
  purchase: call([accountId, packSlug], ({ billing }, [id, slug]) => billing.purchase(id as never, slug as never)),
  cancel: call(
    [accountId, fc.option(object({ immediately: fc.boolean() }, []), { nil: undefined })],
    ({ billing }, [id, opts]) => billing.cancel(id as never, opts as never),
  ),
  credit: call(
    [accountId, object({ source: fc.constantFrom('bonus', 'adjustment', 'pack'), amountMicros: money, reference: key, expiresAt: fc.option(isoOrDate) }, ['source', 'amountMicros', 'reference'])],
    ({ billing }, [id, input]) => billing.credit(id as never, input as never),
  ),
  'admin.listPlans': call([fc.option(object({ status: fc.constantFrom('active', 'legacy', 'archived') }, []), { nil: undefined })], ({ billing }, [filter]) => billing.admin.listPlans(filter as never)),
  'admin.getPlan': call([planSlug], ({ billing }, [slug]) => billing.admin.getPlan(slug as never)),
  'admin.createPlan': call([planInput], ({ billing }, [input]) => billing.admin.createPlan(input as never)),
  'admin.updatePlan': call([planSlug, planInput], ({ billing }, [slug, patch]) => billing.admin.updatePlan(slug as never, patch as never)),
  'admin.listPacks': call([fc.option(object({ status: fc.constantFrom('active', 'archived') }, []), { nil: undefined })], ({ billing }, [filter]) => billing.admin.listPacks(filter as never)),
  'admin.getPack': call([packSlug], ({ billing }, [slug]) => billing.admin.getPack(slug as never)),
  'admin.createPack': call([packInput], ({ billing }, [input]) => billing.admin.createPack(input as never)),
  'admin.updatePack': call([packSlug, packInput], ({ billing }, [slug, patch]) => billing.admin.updatePack(slug as never, patch as never)),
  'admin.getSettings': call([fc.option(junk)], ({ billing }, [extra]) => (billing.admin.getSettings as (...args: unknown[]) => Promise<unknown>)(extra)),
  'admin.updateSettings': call([settingsInput], ({ billing }, [input]) => billing.admin.updateSettings(input as never)),
  'admin.setModelPrice': call(
    [object({ provider: fc.constantFrom('', 'openai'), model, effectiveFrom: isoOrDate, rates }, ['model', 'effectiveFrom', 'rates'])],
    ({ billing }, [input]) => billing.admin.setModelPrice(input as never),
  ),
  'admin.setMemberLimits': call(
    [
      accountId, maybe(fc.string({ minLength: 1, maxLength: 5 })), maybe(fc.array(object({ window: fc.constantFrom('day', 'month'), unit: fc.constantFrom('usd', 'tokens'), amount: money }), { maxLength: 3 })),
      fc.option(maybe(object({ name: fc.string({ maxLength: 12 }) }, [])), { nil: undefined }),
    ],
    ({ billing }, [id, userId, limits, options]) => billing.admin.setMemberLimits(id as never, userId as never, limits as never, options as never),
  ),
  'admin.applyPreset': call(
    [maybe(fc.constantFrom('usage-subscription', 'credit-packs', 'subscription-plus-packs', 'tiers'))],
    ({ billing }, [mode]) => billing.admin.applyPreset(mode as never),
  ),
};

/** What went wrong, for a failure's message: never let describing the junk throw. */
function describeError(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name} ${(error as { code?: string }).code ?? ''}: ${error.message}` : String(error);
  } catch {
    return 'an unprintable error';
  }
}

/** The call either succeeds or fails with a BillingError of a known code, as a rejected promise. */
async function succeedsOrBillingError(name: string, run: () => Promise<unknown>): Promise<void> {
  let promise: Promise<unknown>;
  try {
    promise = run();
  } catch (error) {
    throw new Error(`${name} threw before returning its promise: ${describeError(error)}`);
  }
  expect(promise, `${name} returns a promise`).toBeInstanceOf(Promise);
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof BillingError)) throw new Error(`${name} failed with something other than a BillingError: ${describeError(error)}`);
    expect(ERROR_CODES).toContain(error.code);
  }
}

for (const engine of ENGINES) {
  describe(`hostile input on ${engine.name}`, () => {
    const t = useBilling(engine);

    /** A catalog, two accounts with value, open holds and usage events to aim at. */
    async function seed(): Promise<Seeded> {
      const { billing } = t;
      await billing.admin.applyPreset('subscription-plus-packs');
      for (const id of ACCOUNTS) {
        await billing.upsertAccount({ id, kind: id === 'acme' ? 'team' : 'personal' });
        await billing.credit(id, { source: 'bonus', amountMicros: 50_000_000, reference: 'seed' });
      }
      await billing.subscribe('acme', 'plus');
      await billing.purchase('acme', 'extra-10');
      const holdIds: string[] = [];
      for (const id of [...ACCOUNTS, ...ACCOUNTS]) {
        const auth = await billing.authorize(id, { model: 'gpt-4o-mini', inputTokens: 1_000, maxOutputTokens: 500 });
        if (!auth.ok) throw new Error(auth.message);
        holdIds.push(auth.hold.id);
      }
      const eventIds: number[] = [];
      for (const id of ACCOUNTS) {
        eventIds.push((await billing.record(id, { model: 'gpt-4o-mini', usage: { inputTokens: 10_000, outputTokens: 1_000 } }, { idempotencyKey: 'seed' })).usageEventId);
      }
      return { billing, holdIds, eventIds };
    }

    /** Every account reconciles, and its balance, a hold, a settle and a record still answer. */
    async function stillWorks(billing: Billing, round: string): Promise<void> {
      for (const id of ACCOUNTS) {
        const reconciled = await billing.reconcile(id);
        expect(reconciled.problems, `${id} reconciles`).toEqual([]);
        await billing.balance(id);
        const auth = await billing.authorize(id, { model: 'gpt-4o-mini', inputTokens: 100, maxOutputTokens: 100 });
        if (auth.ok) await billing.settle(auth.hold.id, { inputTokens: 100, outputTokens: 10 }, { idempotencyKey: `check-${round}` });
        await billing.record(id, { model: 'gpt-4o-mini', usage: { inputTokens: 10, outputTokens: 10 } }, { idempotencyKey: `check-record-${round}` });
        expect((await billing.reconcile(id)).problems).toEqual([]);
      }
    }

    for (const [name, { args, run }] of Object.entries(CALLS)) {
      it(`${name}: succeeds or throws a BillingError, and leaves every account working`, async () => {
        const seeded = await seed();
        await fc.assert(
          fc.asyncProperty(args, async (values) => succeedsOrBillingError(name, () => run(seeded, values))),
          { numRuns: NUM_RUNS },
        );
        await stillWorks(seeded.billing, name);
      });
    }

    it('any mix of calls: each succeeds or throws a BillingError, and every account keeps working', async () => {
      const seeded = await seed();
      const step = fc.oneof(...Object.entries(CALLS).map(([name, { args }]) => args.map((values) => ({ name, values }))));
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
          for (const { name, values } of steps) await succeedsOrBillingError(name, () => CALLS[name]!.run(seeded, values));
        }),
        { numRuns: Math.ceil(NUM_RUNS / 4) },
      );
      await stillWorks(seeded.billing, 'mix');
    });
  });
}
