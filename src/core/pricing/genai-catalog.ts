/**
 * Adapter over the model catalog bundled with @pydantic/genai-prices: finds which provider and
 * model an id refers to (with the library's own matching rules) and which of the model's prices
 * is active at a given time. It knows nothing of Tollgate's price entries; bundled.ts turns
 * what is found here into one.
 *
 * Hot path: calcPrice costs tens of microseconds (it walks every provider's match rules), so the
 * (provider, model) → model resolution is cached. The resolution does not depend on time; the
 * time-dependent choice between a model's ConditionalPrices is redone on every lookup by
 * `activeIndex`, a copy of the library's `we` (dist/index.js) that tests check against calcPrice.
 * We never call updatePrices, so the bundled data, and with it the cache, cannot go stale.
 */
import { calcPrice, findProvider, type ConditionalPrice, type ModelInfo, type ModelPrice } from '@pydantic/genai-prices';

/** One price of one model, as found in the catalog. Stable identity: the same object comes back
 * for every lookup that resolves to it, so callers may cache derived data in a WeakMap. */
export interface CatalogPrice {
  readonly provider: string;
  readonly model: string;
  /** ISO timestamp from which this price applies, when the catalog says so (start_date). */
  readonly effectiveFrom?: string;
  /** The model's context window in tokens, when the catalog documents it: no call's input and output together exceed it. */
  readonly contextWindow?: number;
  readonly price: ModelPrice;
}

interface Option {
  readonly found: CatalogPrice;
  readonly constraint?: ConditionalPrice['constraint'];
  /** start_date constraint, as epoch milliseconds. */
  readonly startMs?: number;
  /** time_of_date constraint, as UTC seconds of the day. */
  readonly fromSec?: number;
  readonly toSec?: number;
}

/** A resolved model: one option, or its ConditionalPrices in catalog order. */
type Resolved = readonly Option[];

const ZERO_USAGE = { input_tokens: 0, output_tokens: 0 };
const SECONDS_PER_DAY = 86_400;
const MS_PER_DAY = SECONDS_PER_DAY * 1000;
// Bounded because ids come from callers: unknown ids are cached too, and must not grow memory forever.
const MAX_CACHED_IDS = 4096;
const resolutions = new Map<string, Resolved | null>();

/**
 * The catalog price of `model` (served by `provider`, or by whichever provider the catalog
 * matches the model to when omitted) active at `at`. Also accepts "provider:model" and
 * "maker/model" ids (OpenRouter style): with provider "openrouter" they name an OpenRouter
 * model; without a provider they are priced at the maker ("openai/gpt-4o" → openai gpt-4o).
 */
export function findCatalogPrice(model: string, provider: string | undefined, at: Date): CatalogPrice | undefined {
  const time = at.getTime();
  if (Number.isNaN(time)) throw new RangeError('Invalid time value');
  const key = `${provider ?? ''}\u0000${model}`;
  let resolved = resolutions.get(key);
  if (resolved === undefined) {
    resolved = resolve(model, provider);
    if (resolutions.size >= MAX_CACHED_IDS) resolutions.delete(resolutions.keys().next().value!);
    resolutions.set(key, resolved);
  }
  return resolved ? resolved[activeIndex(resolved, time)]!.found : undefined;
}

function resolve(model: string, provider: string | undefined): Resolved | null {
  const modelId = model.trim();
  const providerId = provider?.trim() || undefined;
  const direct = lookup(modelId, providerId);
  if (direct) return direct;

  // "provider:model", when the prefix names a provider. Tried after the id as given, because model
  // ids contain ':' too ("amazon.nova-pro-v1:0", whose prefix matches provider aws by alias).
  const colon = modelId.indexOf(':');
  if (colon > 0) {
    const prefix = modelId.slice(0, colon);
    const named = findProvider({ providerId: prefix });
    if (named && (providerId === undefined || findProvider({ providerId })?.id === named.id)) {
      return resolve(modelId.slice(colon + 1), prefix);
    }
  }

  // "maker/model" without a provider (or with the maker as provider): price it at the maker.
  const slash = modelId.indexOf('/');
  if (slash > 0) {
    const maker = modelId.slice(0, slash);
    if (providerId === undefined || providerId.toLowerCase() === maker.toLowerCase()) {
      return lookup(modelId.slice(slash + 1), maker);
    }
  }
  return null;
}

function lookup(modelId: string, providerId: string | undefined): Resolved | null {
  if (!modelId) return null;
  const result = calcPrice(ZERO_USAGE, modelId, providerId === undefined ? {} : { providerId });
  return result ? optionsOf(result.provider.id, result.model) : null;
}

function optionsOf(provider: string, info: ModelInfo): Resolved {
  const window = info.context_window === undefined ? {} : { contextWindow: info.context_window };
  if (!Array.isArray(info.prices)) return [{ found: { provider, model: info.id, ...window, price: info.prices } }];
  return info.prices.map((conditional): Option => {
    const constraint = conditional.constraint;
    const base = { provider, model: info.id, ...window, price: conditional.prices };
    if (constraint?.type === 'start_date') {
      const startMs = new Date(constraint.start_date).getTime();
      return { found: { ...base, effectiveFrom: new Date(startMs).toISOString() }, constraint, startMs };
    }
    if (constraint?.type === 'time_of_date') {
      return { found: base, constraint, fromSec: utcSecondOfDay(constraint.start_time), toSec: utcSecondOfDay(constraint.end_time) };
    }
    if (constraint !== undefined) throw new Error(`Unknown price constraint for model '${info.id}': ${JSON.stringify(constraint)}`);
    return { found: base };
  });
}

/** Which option applies at `time` (epoch ms): the last one whose constraint holds, as genai-prices' `we`. */
function activeIndex(options: Resolved, time: number): number {
  if (options.length === 1) return 0;
  const msOfDay = ((time % MS_PER_DAY) + MS_PER_DAY) % MS_PER_DAY;
  const secondOfDay = msOfDay / 1000;
  for (let i = options.length - 1; i >= 0; i--) {
    const option = options[i]!;
    if (option.constraint === undefined) return i;
    if (option.startMs !== undefined) {
      if (time >= option.startMs) return i;
    } else {
      const from = option.fromSec!;
      const to = option.toSec!;
      // A window whose end is before its start wraps around midnight.
      const inside = to < from ? secondOfDay >= from || secondOfDay < to : secondOfDay >= from && secondOfDay < to;
      if (inside) return i;
    }
  }
  return 0;
}

/**
 * The catalog's id of a provider named as an integration names it ("openai.chat",
 * "anthropic.messages", "google.generative-ai": the part before the first dot), or undefined
 * when the catalog does not know it; a model is then matched to whichever provider serves it.
 */
export function catalogProvider(name: string): string | undefined {
  const id = name.split('.')[0]!.trim();
  return id ? findProvider({ providerId: id })?.id : undefined;
}

/** "HH:MM:SS[.fff](Z|±HH:MM)" to seconds since UTC midnight, as genai-prices' `A`. */
function utcSecondOfDay(time: string): number {
  const match = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$/.exec(time);
  if (!match) throw new Error(`Invalid time-of-day constraint: ${time}`);
  const [, hh, mm, ss, fraction = '', zone, sign, offH = '00', offM = '00'] = match;
  const local = Number(hh) * 3600 + Number(mm) * 60 + Number(ss) + Number(`0.${fraction}`);
  const offset = zone === 'Z' ? 0 : (sign === '+' ? 1 : -1) * (Number(offH) * 60 + Number(offM)) * 60;
  return (local - offset + SECONDS_PER_DAY) % SECONDS_PER_DAY;
}
