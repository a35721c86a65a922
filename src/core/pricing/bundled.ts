/**
 * The bundled genai-prices data as Tollgate's price entries: what genai-catalog.ts finds for a
 * model is turned once into a frozen PriceEntry, with every rate made a canonical decimal.
 */
import type { ModelPrice, TieredPrices } from '@pydantic/genai-prices';
import { findCatalogPrice, type CatalogPrice } from './genai-catalog.ts';
import { toDecimalRate, type DecimalRate, type PriceEntry, type PriceRates, type Rate } from './price.ts';

// Converted once per catalog price; entries are frozen because every lookup shares them.
const bundledEntries = new WeakMap<CatalogPrice, PriceEntry | null>();

/**
 * The bundled genai-prices price of a model at time `at`, or undefined when the catalog does not
 * know the model or has no input and output token rates for it. See findCatalogPrice for the
 * id forms accepted. Cached: a repeated lookup costs well under a microsecond.
 */
export function bundledPrice(model: string, provider: string | undefined, at: Date): PriceEntry | undefined {
  const found = findCatalogPrice(model, provider, at);
  if (!found) return undefined;
  let entry = bundledEntries.get(found);
  if (entry === undefined) {
    entry = entryFromCatalog(found);
    bundledEntries.set(found, entry);
  }
  return entry ?? undefined;
}

function entryFromCatalog(found: CatalogPrice): PriceEntry | null {
  const { price } = found;
  // Price keys with no token dimension here (audio, images, searches, 1h cache writes) do not
  // apply to a TokenUsage: genai-prices charges those tokens within their totals too. A
  // request fee applies to every call, as genai-prices counts one request per usage.
  if (price.input_mtok === undefined || price.output_mtok === undefined) return null;
  const rates: { -readonly [K in keyof PriceRates]: PriceRates[K] } = {
    input: catalogRate(price, 'input_mtok'),
    output: catalogRate(price, 'output_mtok'),
  };
  if (price.cache_read_mtok !== undefined) rates.cacheRead = catalogRate(price, 'cache_read_mtok');
  if (price.cache_write_mtok !== undefined) rates.cacheWrite = catalogRate(price, 'cache_write_mtok');
  if (price.output_reasoning_mtok !== undefined) rates.reasoning = catalogRate(price, 'output_reasoning_mtok');
  if (price.requests_kcount !== undefined) rates.requests = catalogRate(price, 'requests_kcount');
  return deepFreeze({
    source: 'bundled',
    provider: found.provider,
    model: found.model,
    ...(found.effectiveFrom === undefined ? {} : { effectiveFrom: found.effectiveFrom }),
    rates,
  } satisfies PriceEntry);
}

function catalogRate(price: ModelPrice, key: string): Rate {
  const value = price[key] as number | TieredPrices;
  if (typeof value === 'number') return catalogDecimal(value, key);
  return {
    base: catalogDecimal(value.base, key),
    tiers: [...value.tiers].sort((a, b) => a.start - b.start).map((tier) => ({ start: tier.start, price: catalogDecimal(tier.price, key) })),
  };
}

function catalogDecimal(value: number, key: string): DecimalRate {
  const result = toDecimalRate(value);
  if (typeof result !== 'string') throw new Error(`genai-prices ${key} ${result.error}`);
  return result;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
