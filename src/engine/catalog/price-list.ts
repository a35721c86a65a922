/**
 * The price book as a list an admin can search: every model of the bundled genai-prices data
 * that has token prices, and every model an override names, each with the price the book
 * charges for it now (an override's or the bundled one, saying which and from when) and the
 * overrides that start later.
 */
import { waitForUpdate, type ModelInfo } from '@pydantic/genai-prices';
import { z } from 'zod';
import { int4, modelSchema, parseInput, plain, text } from '../../core/input.ts';
import type { PriceEntry } from '../../core/pricing/price.ts';
import { getSettings } from './catalog.ts';
import type { Context } from '../context.ts';

export interface PriceListRow {
  provider: string;
  model: string;
  /** The catalog's display name, when it has one. */
  name: string | null;
  /** The price a call of this model at this provider is charged now, or undefined when nothing prices it. */
  price: PriceEntry | undefined;
  /** Overrides of this model that take effect later, soonest first. */
  upcoming: PriceOverride[];
}

export interface PriceOverride {
  /** '' applies to the model under any provider. */
  provider: string;
  model: string;
  effectiveFrom: Date;
  price: PriceEntry;
  createdAt: Date;
}

interface Listed {
  provider: string;
  model: string;
  name: string | null;
  /** Lower-case "provider model name", for the search. */
  haystack: string;
}

/** Whether a catalog model has input and output token prices (embeddings and image models may not). */
function hasTokenPrices(info: ModelInfo): boolean {
  const prices = Array.isArray(info.prices) ? info.prices.map((c) => c.prices) : [info.prices];
  return prices.some((p) => p.input_mtok !== undefined && p.output_mtok !== undefined);
}

let bundled: Promise<Listed[]> | undefined;

/** The bundled models, read once: the data ships with the package and is never updated at run time. */
function bundledModels(): Promise<Listed[]> {
  bundled ??= Promise.resolve(waitForUpdate()).then((providers) =>
    (providers ?? []).flatMap((provider) =>
      provider.models.filter(hasTokenPrices).map((info) => ({
        provider: provider.id, model: info.id, name: info.name ?? null,
        haystack: `${provider.id} ${info.id} ${info.name ?? ''}`.toLowerCase(),
      })),
    ),
  );
  return bundled;
}

const priceListSchema = plain(
  z
    .object({
      search: text(200).optional(),
      limit: int4.min(1, 'must be at least 1').max(200, 'must be at most 200').default(50),
      offset: int4.min(0, 'must not be negative').default(0),
    })
    .strict(),
);

/**
 * Models whose provider, id or name contain every word of `search` (the closest matches first:
 * the id itself, then ids that start with it), a page of them priced as the book prices them
 * now, and every override, newest first.
 */
export async function priceList(
  ctx: Context,
  query: z.input<typeof priceListSchema> = {},
): Promise<{ rows: PriceListRow[]; total: number; overrides: PriceOverride[] }> {
  const q = parseInput(priceListSchema, query, 'price list query');
  const now = ctx.clock();
  const overrides = (
    await ctx.sql.query<{ provider: string; model: string; effective_from: Date; price: PriceEntry; created_at: Date }>(
      'SELECT provider, model, effective_from, price, created_at FROM model_prices ORDER BY effective_from DESC, model, provider',
    )
  ).map((r): PriceOverride => ({ provider: r.provider, model: r.model, effectiveFrom: r.effective_from, price: r.price, createdAt: r.created_at }));

  const listed = [...(await bundledModels())];
  const known = new Set(listed.map((m) => `${m.provider}\u0000${m.model}`.toLowerCase()));
  for (const o of overrides) {
    const key = `${o.provider}\u0000${o.model}`.toLowerCase();
    if (known.has(key)) continue;
    known.add(key);
    listed.push({ provider: o.provider, model: o.model, name: null, haystack: `${o.provider} ${o.model}`.toLowerCase() });
  }

  const search = q.search?.trim().toLowerCase() ?? '';
  const words = search.split(/\s+/).filter(Boolean);
  const rank = (m: Listed) => {
    const id = m.model.toLowerCase();
    return id === search ? 0 : id.startsWith(search) ? 1 : 2;
  };
  const found = listed
    .filter((m) => words.every((w) => m.haystack.includes(w)))
    .sort((a, b) => rank(a) - rank(b) || a.model.localeCompare(b.model) || a.provider.localeCompare(b.provider));

  const [settings] = await ctx.sql.query<{ catalog_version: number }>('SELECT catalog_version FROM settings');
  const book = await ctx.prices.atLeast(settings?.catalog_version ?? 0);
  const noFallback = { unknownModelPolicy: 'refuse', fallbackPrice: null } as const;
  const rows = found.slice(q.offset, q.offset + q.limit).map((m): PriceListRow => ({
    provider: m.provider,
    model: m.model,
    name: m.name,
    price: book.find(m.model, m.provider || undefined, now, noFallback),
    upcoming: overrides
      .filter((o) => o.effectiveFrom > now && o.model.toLowerCase() === m.model.toLowerCase() && (o.provider === '' || o.provider.toLowerCase() === m.provider.toLowerCase()))
      .reverse(),
  }));
  return { rows, total: found.length, overrides };
}

const priceQuerySchema = plain(z.object({ model: modelSchema, provider: text(100).trim().optional() }).strict());

/** The price a call of `model` is charged now, as the gate finds it (the fallback price included), or undefined. */
export async function priceOf(ctx: Context, query: z.input<typeof priceQuerySchema>): Promise<PriceEntry | undefined> {
  const { model, provider } = parseInput(priceQuerySchema, query, 'price query');
  const settings = await getSettings(ctx.sql);
  const [row] = await ctx.sql.query<{ catalog_version: number }>('SELECT catalog_version FROM settings');
  const book = await ctx.prices.atLeast(row?.catalog_version ?? 0);
  return book.find(model, provider || undefined, ctx.clock(), settings);
}
