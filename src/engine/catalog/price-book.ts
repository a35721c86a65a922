/**
 * Where a model's price comes from, first match wins:
 *   1. an admin override for (provider, model) effective at that moment;
 *   2. an admin override for the model without a provider (or, when the caller names no
 *      provider, under any provider);
 *   3. the same for the id the bundled catalog reads the model as (a dated or prefixed id);
 *   4. the bundled genai-prices data;
 *   5. the settings' fallback price, when the unknown-model policy says so.
 * Otherwise the model is unknown and the gate refuses it: never a free call.
 * Overrides are cached in memory, as of a catalog version: every change to them moves it
 * (migration 0009), and every decision reads it with the account's terms, so a decision on a
 * newer catalog than the book's reloads the book first (`atLeast`). An override set anywhere
 * binds every process's next answer, and no call waits for a reload otherwise.
 */
import type { PriceEntry } from '../../core/pricing/price.ts';
import { bundledPrice } from '../../core/pricing/bundled.ts';
import { findCatalogPrice } from '../../core/pricing/genai-catalog.ts';
import type { Settings } from '../../core/settings.ts';
import type { Sql } from '../../db/sql.ts';

interface OverrideRow {
  provider: string;
  model: string;
  effective_from: Date;
  price: PriceEntry;
}

export class PriceBook {
  #overrides = new Map<string, OverrideRow[]>();
  #byModel = new Map<string, OverrideRow[]>();
  /** The catalog version the overrides are as of (or newer). */
  #catalog = -1;

  constructor(private readonly sql: Sql) {}

  /** Load the overrides; `sql` is the handle to read them on (one a caller holds, on PGlite). */
  async reload(sql = this.sql): Promise<void> {
    // The version first: the rows read after it are at least as new.
    const [settings] = await sql.query<{ catalog_version: number }>('SELECT catalog_version FROM settings');
    const rows = await sql.query<OverrideRow>('SELECT provider, model, effective_from, price FROM model_prices ORDER BY effective_from DESC');
    const catalog = settings?.catalog_version ?? 0;
    if (catalog < this.#catalog) return; // a reload that read later has landed already
    const overrides = new Map<string, OverrideRow[]>();
    const byModel = new Map<string, OverrideRow[]>();
    for (const row of rows) {
      const key = keyOf(row.provider, row.model);
      overrides.set(key, [...(overrides.get(key) ?? []), row]);
      byModel.set(row.model.toLowerCase(), [...(byModel.get(row.model.toLowerCase()) ?? []), row]);
    }
    this.#overrides = overrides;
    this.#byModel = byModel;
    this.#catalog = catalog;
  }

  /** The book, reloaded first if it is older than `catalogVersion`, the version a decision read. */
  async atLeast(catalogVersion: number, sql = this.sql): Promise<this> {
    if (this.#catalog < catalogVersion) await this.reload(sql);
    return this;
  }

  /** The price of `model` at `at`, or undefined when nothing prices it. */
  find(model: string, provider: string | undefined, at: Date, settings: Pick<Settings, 'unknownModelPolicy' | 'fallbackPrice'>): PriceEntry | undefined {
    const override = provider
      ? (this.#override(provider, model, at) ?? this.#override('', model, at))
      : (this.#override('', model, at) ?? this.#byModel.get(model.toLowerCase())?.find((row) => row.effective_from <= at)?.price);
    if (override) return override;
    // An override set on the catalog's id (as the price list names it: "claude-sonnet-4-0")
    // binds the ids the catalog reads as that model ("claude-sonnet-4-20250514", "anthropic/…").
    const known = this.#overrides.size > 0 ? findCatalogPrice(model, provider, at) : undefined;
    const aliased = known && (this.#override(known.provider, known.model, at) ?? this.#override('', known.model, at));
    if (aliased) return aliased;
    const bundled = bundledPrice(model, provider, at);
    if (bundled) return bundled;
    if (settings.unknownModelPolicy === 'fallback' && settings.fallbackPrice) {
      return { ...settings.fallbackPrice, provider: provider ?? '', model };
    }
    return undefined;
  }

  #override(provider: string, model: string, at: Date): PriceEntry | undefined {
    const rows = this.#overrides.get(keyOf(provider, model));
    return rows?.find((row) => row.effective_from <= at)?.price;
  }
}

function keyOf(provider: string, model: string): string {
  return `${provider.toLowerCase()}\u0000${model.toLowerCase()}`;
}
