import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { calcPrice, waitForUpdate, type ModelPrice, type TieredPrices } from '@pydantic/genai-prices';
import { isBillingError } from '../src/core/errors.ts';
import type { TokenUsage } from '../src/core/usage.ts';
import { PriceBook } from '../src/engine/catalog/price-book.ts';
import type { Sql } from '../src/db/sql.ts';
import type { PriceEntry, Rate } from '../src/core/pricing/price.ts';
import { costOf, worstCaseCostOf } from '../src/core/pricing/cost.ts';
import { MAX_ADMIN_RATE, priceEntryFromRates, type PriceEntryInput } from '../src/core/pricing/rates.ts';
import { bundledPrice } from '../src/core/pricing/bundled.ts';

const AT = new Date('2025-09-01T12:00:00Z');

/** What genai-prices charges for a usage, in dollars (a float). */
function genaiDollars(usage: TokenUsage, model: string, provider: string, at: Date): number {
  const result = calcPrice(
    {
      input_tokens: usage.inputTokens,
      output_tokens: usage.outputTokens,
      cache_read_tokens: usage.cacheReadTokens,
      cache_write_tokens: usage.cacheWriteTokens,
      output_reasoning_tokens: usage.reasoningTokens,
    },
    model,
    { providerId: provider, timestamp: at },
  );
  if (!result) throw new Error(`genai-prices does not know ${provider}/${model}`);
  return result.total_price;
}

/**
 * The first usage whose cost is not on a half micro-dollar (where a float cannot tell which way
 * exact rounding goes), with genai-prices' cost rounded to the micro-dollar. Rates like 0.5 and
 * 1.25 put odd token counts on the boundary, so each model gets a few candidate usages.
 */
function offHalfMicro(candidates: TokenUsage[], model: string, provider: string, at: Date): [TokenUsage, number] {
  for (const usage of candidates) {
    const micros = genaiDollars(usage, model, provider, at) * 1e6;
    if (Math.abs((micros % 1) - 0.5) > 1e-6) return [usage, Math.round(micros)];
  }
  throw new Error(`${provider}/${model}: every candidate usage costs a half micro-dollar`);
}

/** Candidates around a usage: nudging the parts by a token moves the cost off a half micro-dollar. */
function around(usage: Required<TokenUsage>): TokenUsage[] {
  return [0, 1, 2, 3].map((k) => ({ ...usage, inputTokens: usage.inputTokens + k, cacheReadTokens: usage.cacheReadTokens + k, outputTokens: usage.outputTokens + k }));
}

function expectInvalid(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (error) {
    expect(isBillingError(error, 'invalid_input'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected invalid_input');
}

// [model as the app names it, provider, tiered?]
const MODELS: [string, string, boolean?][] = [
  ['gpt-4o', 'openai'],
  ['gpt-4o-mini', 'openai'],
  ['gpt-4.1', 'openai'],
  ['gpt-4.1-mini', 'openai'],
  ['o1', 'openai'],
  ['o3', 'openai'],
  ['o4-mini', 'openai'],
  ['gpt-5', 'openai'],
  ['gpt-5-mini', 'openai'],
  ['claude-sonnet-4-20250514', 'anthropic'],
  ['claude-3-5-haiku-latest', 'anthropic'],
  ['claude-opus-4-1', 'anthropic'],
  ['claude-3-7-sonnet-latest', 'anthropic'],
  ['claude-3-haiku-20240307', 'anthropic'],
  ['claude-sonnet-4-5', 'anthropic', true],
  ['gemini-2.5-pro', 'google', true],
  ['gemini-1.5-flash', 'google', true],
  ['gemini-2.5-flash', 'google'],
  ['gemini-2.5-flash-lite', 'google'],
  ['gemini-2.0-flash', 'google'],
  ['openai/gpt-4o', 'openrouter'],
  ['openai/gpt-4o-mini', 'openrouter'],
  ['anthropic/claude-sonnet-4', 'openrouter'],
  ['google/gemini-2.5-pro', 'openrouter'],
  ['google/gemini-2.5-flash-lite', 'openrouter'], // cache write 0.08333333333333334: finer than a pico per token
  ['perplexity/sonar-deep-research', 'openrouter'], // a reasoning rate
  ['sonar-deep-research', 'perplexity'],
  ['sonar', 'perplexity'], // a fee per request
  ['sonar-pro', 'perplexity'],
  ['deepseek-chat', 'deepseek'],
];

// Input, output, cache read, cache write and reasoning tokens, below and above the 128k/200k tiers.
const BELOW_TIER = around({ inputTokens: 123_457, outputTokens: 4_321, cacheReadTokens: 40_009, cacheWriteTokens: 10_007, reasoningTokens: 1_234 });
const ABOVE_TIER = around({ inputTokens: 283_459, outputTokens: 9_877, cacheReadTokens: 100_003, cacheWriteTokens: 20_011, reasoningTokens: 3_331 });

describe('costOf matches genai-prices on bundled models', () => {
  it('covers OpenAI, Anthropic, Google and OpenRouter, with tiers, cache writes and reasoning', () => {
    expect(MODELS.length).toBeGreaterThanOrEqual(24);
    const entries = MODELS.map(([model, provider]) => bundledPrice(model, provider, AT));
    expect(entries.every((e) => e !== undefined)).toBe(true);
    expect(entries.some((e) => e?.rates.cacheRead !== undefined && e.rates.cacheWrite !== undefined)).toBe(true);
    expect(entries.some((e) => e?.rates.reasoning !== undefined)).toBe(true);
    expect(entries.some((e) => e?.rates.cacheWrite === '0.08333333333333334')).toBe(true);
    expect(entries.some((e) => e?.rates.requests !== undefined)).toBe(true);
  });

  it('charges a request fee once per call, and holds it', () => {
    const sonar = bundledPrice('sonar', 'perplexity', AT)!;
    expect(sonar.rates.requests).toBe('12'); // $12 per thousand requests: 12,000 µ$ a call
    expect(costOf(sonar, { inputTokens: 0, outputTokens: 0 }).costMicros).toBe(12_000);
    expect(costOf(sonar, { inputTokens: 1_000, outputTokens: 0 }).costMicros).toBe(12_000 + 1_000);
    expect(worstCaseCostOf(sonar, 1_000, 0)).toBe(13_000n * 1_000_000n);
    const own = priceEntryFromRates({ source: 'override', provider: 'p', model: 'm', rates: { input: '1', output: '1', requests: '5' } });
    expect(costOf(own, { inputTokens: 0, outputTokens: 0 }).costMicros).toBe(5_000);
  });

  for (const [model, provider, tiered] of MODELS) {
    it(`${provider} ${model}`, () => {
      const entry = bundledPrice(model, provider, AT)!;
      expect(entry.source).toBe('bundled');
      expect(entry.provider).toBe(provider);
      expect(typeof entry.rates.input === 'object').toBe(tiered === true);
      for (const candidates of [BELOW_TIER, ABOVE_TIER]) {
        const [usage, expectedMicros] = offHalfMicro(candidates, entry.model, provider, AT);
        expect(costOf(entry, usage).costMicros).toBe(expectedMicros);
        // And to the pico-dollar, as far as a float can tell, for every candidate.
        for (const any of candidates) {
          expect(Number(costOf(entry, any).costPicos) / 1e12).toBeCloseTo(genaiDollars(any, entry.model, provider, AT), 11);
        }
      }
    });
  }

  it('prices the tier by total input tokens, for every token of the dimension', () => {
    const entry = bundledPrice('gemini-2.5-pro', 'google', AT)!;
    expect(entry.rates.input).toEqual({ base: '1.25', tiers: [{ start: 200_000, price: '2.5' }] });
    // 200,000 is not above the threshold; 200,001 is, and then all tokens cost the tier price.
    expect(costOf(entry, { inputTokens: 200_000, outputTokens: 0 }).costPicos).toBe(200_000n * 1_250_000n);
    expect(costOf(entry, { inputTokens: 200_001, outputTokens: 0 }).costPicos).toBe(200_001n * 2_500_000n);
    expect(costOf(entry, { inputTokens: 200_001, outputTokens: 10 }).costPicos).toBe(200_001n * 2_500_000n + 10n * 15_000_000n);
  });
});

describe('costOf arithmetic', () => {
  const gpt4o = () => bundledPrice('gpt-4o', 'openai', AT)!;

  it('splits cache reads out of input only when they have a rate; cache writes without a rate cost input', () => {
    // input 2.5, cached 1.25, output 10 ($/Mtok = µ$/token = 1e6 picos/token); no cache write rate.
    const cost = costOf(gpt4o(), { inputTokens: 1000, outputTokens: 50, cacheReadTokens: 200, cacheWriteTokens: 100, reasoningTokens: 10 });
    expect(cost.costPicos).toBe(800n * 2_500_000n + 200n * 1_250_000n + 50n * 10_000_000n);
    expect(cost.costMicros).toBe(2750);
  });

  it('is exact for rates finer than a pico-dollar per token, rounding once', () => {
    const entry = priceEntryFromRates({ source: 'override', provider: 'x', model: 'y', rates: { input: '0', output: '0', cacheWrite: '0.08333333333333334' } });
    // 3 × 0.08333333333333334 µ$ = 0.25000000000000002 µ$: up to the pico, half-up to the micro.
    expect(costOf(entry, { inputTokens: 3, outputTokens: 0, cacheWriteTokens: 3 })).toEqual({ costPicos: 250_001n, costMicros: 0 });
    expect(costOf(entry, { inputTokens: 6, outputTokens: 0, cacheWriteTokens: 6 }).costMicros).toBe(1);
  });

  it('rounds half up to the micro-dollar', () => {
    const entry = priceEntryFromRates({ source: 'fallback', provider: 'x', model: 'y', rates: { input: '0.5', output: '0.499999' } });
    expect(costOf(entry, { inputTokens: 1, outputTokens: 0 }).costMicros).toBe(1);
    expect(costOf(entry, { inputTokens: 0, outputTokens: 1 }).costMicros).toBe(0);
  });

  it('rejects usage whose parts exceed their totals', () => {
    const entry = bundledPrice('claude-opus-4-1', 'anthropic', AT)!;
    expectInvalid(() => costOf(entry, { inputTokens: 10, outputTokens: 0, cacheReadTokens: 8, cacheWriteTokens: 8 }), /cacheReadTokens/);
    expectInvalid(() => costOf(entry, { inputTokens: 1.5, outputTokens: 0 }), /inputTokens/);
  });
});

describe('bundledPrice lookup', () => {
  it('returns undefined for unknown models and providers, and for models without token prices', () => {
    expect(bundledPrice('no-such-model-xyz', undefined, AT)).toBeUndefined();
    expect(bundledPrice('no-such-model-xyz', 'openai', AT)).toBeUndefined();
    expect(bundledPrice('gpt-4o', 'no-such-provider', AT)).toBeUndefined();
    expect(bundledPrice('nope/nothing', 'openrouter', AT)).toBeUndefined();
    expect(bundledPrice('', undefined, AT)).toBeUndefined();
    expect(bundledPrice('text-embedding-3-small', 'openai', AT)).toBeUndefined(); // input_mtok only
  });

  it('accepts provider:model, maker/model and dated aliases', () => {
    const gpt4o = { provider: 'openai', model: 'gpt-4o' };
    expect(bundledPrice('gpt-4o', undefined, AT)).toMatchObject(gpt4o);
    expect(bundledPrice('openai:gpt-4o', undefined, AT)).toMatchObject(gpt4o);
    expect(bundledPrice('openai/gpt-4o', undefined, AT)).toMatchObject(gpt4o);
    expect(bundledPrice('openai/gpt-4o', 'openrouter', AT)).toMatchObject({ provider: 'openrouter', model: 'openai/gpt-4o' });
    expect(bundledPrice('openrouter:openai/gpt-4o', undefined, AT)).toMatchObject({ provider: 'openrouter', model: 'openai/gpt-4o' });
    expect(bundledPrice('claude-sonnet-4-20250514', 'anthropic', AT)).toMatchObject({ provider: 'anthropic', model: 'claude-sonnet-4-0' });
    // A ':' inside a model id is not a provider prefix, even when the prefix matches a provider alias.
    expect(bundledPrice('amazon.nova-pro-v1:0', 'aws', AT)).toMatchObject({ provider: 'aws', model: 'amazon.nova-pro-v1:0' });
  });

  it('picks time-of-day prices by the timestamp (DeepSeek off-peak)', () => {
    const at = (iso: string) => bundledPrice('deepseek-chat', 'deepseek', new Date(iso))!.rates.input;
    expect(at('2025-09-01T12:00:00Z')).toBe('0.27'); // 00:30–16:30 UTC
    expect(at('2025-09-01T00:30:00Z')).toBe('0.27');
    expect(at('2025-09-01T00:29:59.999Z')).toBe('0.135');
    expect(at('2025-09-01T16:30:00Z')).toBe('0.135');
    expect(at('2025-09-01T20:00:00Z')).toBe('0.135');
  });

  it('picks start-date prices by the timestamp (o3 price cut) and records effectiveFrom', () => {
    const before = bundledPrice('o3', 'openai', new Date('2025-06-09T23:59:59.999Z'))!;
    const after = bundledPrice('o3', 'openai', new Date('2025-06-10T00:00:00Z'))!;
    expect(before.rates.input).toBe('10');
    expect(before.effectiveFrom).toBeUndefined();
    expect(after.rates.input).toBe('2');
    expect(after.effectiveFrom).toBe('2025-06-10T00:00:00.000Z');
  });

  it('selects the same conditional price as genai-prices for every conditional model at any time', async () => {
    const providers = (await waitForUpdate())!;
    const conditional = providers.flatMap((p) => p.models.filter((m) => Array.isArray(m.prices)).map((m) => [p.id, m.id] as const));
    expect(conditional.length).toBeGreaterThan(5);
    fc.assert(
      fc.property(fc.constantFrom(...conditional), fc.date({ min: new Date('2024-01-01'), max: new Date('2028-01-01'), noInvalidDate: true }), ([provider, model], at) => {
        const found = calcPrice({ input_tokens: 0, output_tokens: 0 }, model, { providerId: provider, timestamp: at });
        const entry = bundledPrice(model, provider, at);
        if (!found) return entry === undefined; // some catalog ids do not match their own model's rules
        const expected = found.model_price;
        if (expected.input_mtok === undefined || expected.output_mtok === undefined) return entry === undefined;
        expect(entry?.rates.input).toEqual(genaiRate(expected.input_mtok));
        expect(entry?.rates.output).toEqual(genaiRate(expected.output_mtok));
        expect(entry?.rates.cacheRead).toEqual(genaiRate(expected.cache_read_mtok));
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  it('is cached: shared frozen entries, microseconds per lookup', () => {
    const first = bundledPrice('claude-sonnet-4-5', 'anthropic', AT)!;
    expect(bundledPrice('claude-sonnet-4-5', 'anthropic', new Date('2025-10-01T00:00:00Z'))).toBe(first);
    expect(Object.isFrozen(first.rates)).toBe(true);
    const runs = 20_000;
    const started = performance.now();
    for (let i = 0; i < runs; i++) bundledPrice('deepseek-chat', 'deepseek', new Date(1_750_000_000_000 + i * 1000));
    const microsPerLookup = ((performance.now() - started) / runs) * 1000;
    expect(microsPerLookup).toBeLessThan(10); // about 0.2µs measured; an uncached calcPrice is 30–50µs
  });
});

function genaiRate(value: ModelPrice[string]): Rate | undefined {
  if (value === undefined || typeof value === 'number') return value === undefined ? undefined : String(value);
  const tiered = value as TieredPrices;
  return { base: String(tiered.base), tiers: tiered.tiers.map((t) => ({ start: t.start, price: String(t.price) })) };
}

describe('worstCaseCostOf', () => {
  it('charges every token at the dearest rate of its direction', () => {
    // claude-sonnet-4: input 3, cache write 3.75, cache read 0.3, output 15.
    expect(worstCaseCostOf(bundledPrice('claude-sonnet-4-20250514', 'anthropic', AT)!, 1000, 100)).toBe(1000n * 3_750_000n + 100n * 15_000_000n);
    expect(worstCaseCostOf(bundledPrice('gemini-2.5-pro', 'google', AT)!, 300_000, 100)).toBe(300_000n * 2_500_000n + 100n * 15_000_000n);
  });

  const decimal = fc.oneof(
    fc.tuple(fc.nat(100), fc.nat(999_999)).map(([whole, micro]) => `${whole}.${String(micro).padStart(6, '0')}`),
    fc.constantFrom('0', '0.08333333333333334', '0.000000000000000001', '75'),
  );
  const rate = fc.oneof(
    decimal,
    fc
      .tuple(decimal, fc.uniqueArray(fc.nat(400_000), { minLength: 1, maxLength: 3 }), fc.array(decimal, { minLength: 3, maxLength: 3 }))
      // Tier prices in any order: worstCaseCostOf must not assume they rise.
      .map(([base, starts, prices]) => ({ base, tiers: [...starts].sort((a, b) => a - b).map((start, i) => ({ start, price: prices[i]! })) })),
  );
  const entry = fc
    .record({ input: rate, output: rate, cacheRead: fc.option(rate, { nil: undefined }), cacheWrite: fc.option(rate, { nil: undefined }), reasoning: fc.option(rate, { nil: undefined }) })
    .map((rates) => priceEntryFromRates({ source: 'override', provider: 'p', model: 'm', rates: JSON.parse(JSON.stringify(rates)) as PriceEntryInput['rates'] }));
  const bundled = fc.constantFrom(...MODELS.map(([model, provider]) => bundledPrice(model, provider, AT)!));
  // A usage with at most `inputBound` input and `outputBound` output tokens.
  const bounded = fc
    .tuple(fc.nat(500_000), fc.nat(100_000))
    .chain(([inputBound, outputBound]) =>
      fc.tuple(fc.constant(inputBound), fc.constant(outputBound), fc.nat(inputBound), fc.nat(outputBound)).chain(([ib, ob, input, output]) =>
        fc.tuple(fc.constant(ib), fc.constant(ob), fc.nat(input).chain((cacheRead) => fc.tuple(fc.constant(input), fc.constant(cacheRead), fc.nat(input - cacheRead))), fc.constant(output), fc.nat(output)),
      ),
    )
    .map(([inputBound, outputBound, [inputTokens, cacheReadTokens, cacheWriteTokens], outputTokens, reasoningTokens]) => ({
      inputBound,
      outputBound,
      usage: { inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, reasoningTokens } satisfies TokenUsage,
    }));

  it('is never below costOf for a usage within its bounds', () => {
    fc.assert(
      fc.property(fc.oneof(entry, bundled), bounded, (priced: PriceEntry, { inputBound, outputBound, usage }) => {
        expect(worstCaseCostOf(priced, inputBound, outputBound)).toBeGreaterThanOrEqual(costOf(priced, usage).costPicos);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('priceEntryFromRates', () => {
  const base = { source: 'override' as const, provider: 'openai', model: 'gpt-x' };

  it('canonicalizes decimal strings and numbers exactly', () => {
    const entry = priceEntryFromRates({
      ...base,
      effectiveFrom: '2025-01-01T02:00:00+02:00',
      rates: { input: 0.1, output: '02.50', cacheRead: 1e-7, reasoning: { base: 1, tiers: [{ start: 100, price: '1.000' }] } },
    });
    expect(entry).toEqual({
      ...base,
      effectiveFrom: '2025-01-01T00:00:00.000Z',
      rates: { input: '0.1', output: '2.5', cacheRead: '0.0000001', reasoning: { base: '1', tiers: [{ start: 100, price: '1' }] } },
    });
    expect(JSON.parse(JSON.stringify(entry))).toEqual(entry);
  });

  it('rejects bad rates with invalid_input', () => {
    const withRates = (rates: Record<string, unknown>) => () => priceEntryFromRates({ ...base, rates: { input: '1', output: '1', ...rates } as PriceEntryInput['rates'] });
    expectInvalid(withRates({ input: '-1' }), /rates\.input: must not be negative/);
    expectInvalid(withRates({ output: -0.5 }), /rates\.output: must not be negative/);
    expectInvalid(withRates({ input: Number.NaN }), /must be a finite number/);
    expectInvalid(withRates({ input: Infinity }), /must be a finite number/);
    expectInvalid(withRates({ input: '1.2.3' }), /must be a decimal/);
    expectInvalid(withRates({ input: '' }), /must be a decimal/);
    expectInvalid(withRates({ input: null }), /must be a decimal string/);
    expectInvalid(withRates({ cacheRead: '0.0000000000000000001' }), /more than 18 decimals/);
    expectInvalid(withRates({ input: 1e-20 }), /more than 18 decimals/);
    expectInvalid(withRates({ output: '1000000.000000000000000001' }), /rates\.output: \$1000000\.000000000000000001 is more than \$1,000,000, the most a rate can be/);
    expectInvalid(withRates({ requests: 1e21 }), /rates\.requests: .* is more than \$1,000,000, the most a rate can be/);
    expectInvalid(withRates({ input: { base: '1', tiers: [{ start: 100, price: '2000000' }] } }), /rates\.input\.tiers\.0\.price: \$2000000 is more than \$1,000,000/);
    expect(withRates({ output: MAX_ADMIN_RATE })().rates.output).toBe('1000000');
    expectInvalid(withRates({ input: { base: '1', tiers: [{ start: 200, price: '2' }, { start: 100, price: '3' }] } }), /rates\.input\.tiers\.1\.start: tier starts must be strictly ascending/);
    expectInvalid(withRates({ input: { base: '1', tiers: [{ start: 100, price: '2' }, { start: 100, price: '3' }] } }), /strictly ascending/);
    expectInvalid(withRates({ input: { base: '1', tiers: [] } }), /at least one tier/);
    expectInvalid(withRates({ input: { base: '1', tiers: [{ start: -1, price: '2' }] } }), /must not be negative/);
    expectInvalid(withRates({ input: { base: '1', tiers: [{ start: 1, price: 'x' }] } }), /rates\.input\.tiers\.0\.price: must be a decimal/);
    expectInvalid(withRates({ audio: '1' }), /audio/);
    expectInvalid(() => priceEntryFromRates({ ...base, rates: { input: '1' } } as unknown as PriceEntryInput), /rates\.output/);
    expectInvalid(() => priceEntryFromRates({ ...base, model: ' ', rates: { input: '1', output: '1' } }), /model: must not be empty/);
    expectInvalid(() => priceEntryFromRates({ ...base, effectiveFrom: 'yesterday', rates: { input: '1', output: '1' } }), /effectiveFrom/);
    expectInvalid(() => priceEntryFromRates({ ...base, source: 'bundled', rates: { input: '1', output: '1' } } as unknown as PriceEntryInput), /source/);
  });
});

describe('the price book cache', () => {
  /** A database at catalog version `catalog`, counting the queries it answers. */
  function countingDatabase() {
    const db = {
      catalog: 0,
      queries: 0,
      query: async (text: string) => {
        db.queries++;
        return text.includes('catalog_version') ? [{ catalog_version: db.catalog }] : [];
      },
    };
    return db;
  }

  it('reloads only for a decision that read a newer catalog than the one it holds', async () => {
    const db = countingDatabase();
    const book = new PriceBook(db as unknown as Sql);
    await book.reload();
    const loaded = db.queries;
    expect(await book.atLeast(0)).toBe(book);
    expect(db.queries).toBe(loaded); // as new as what was read: no query
    db.catalog = 3; // an override set by another process
    await book.atLeast(3);
    expect(db.queries).toBe(2 * loaded);
    await book.atLeast(2);
    await book.atLeast(3);
    expect(db.queries).toBe(2 * loaded);
  });
});
