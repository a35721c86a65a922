/**
 * Where a model's price comes from, first match wins:
 *   1. an admin override for (provider, model) effective at that moment;
 *   2. an admin override for the model without a provider (or, when the caller names no
 *      provider, under any provider);
 *   3. the bundled genai-prices data;
 *   4. the settings' fallback price, when the unknown-model policy says so.
 * Otherwise the model is unknown and the gate refuses it: never a free call.
 * Overrides are cached in memory; this process reloads them after its own writes, and in
 * the background every few seconds for writes from other processes, so that no call waits
 * for that reload.
 */
import { bundledPrice, type PriceEntry } from '../core/price-book.ts';
import type { Settings } from '../core/settings.ts';
import type { Sql } from '../db/sql.ts';

const RELOAD_AFTER_MS = 5_000;

interface OverrideRow {
  provider: string;
  model: string;
  effective_from: Date;
  price: PriceEntry;
}

export class PriceBook {
  #overrides = new Map<string, OverrideRow[]>();
  #byModel = new Map<string, OverrideRow[]>();
  #loadedAt = 0;
  #reloading: Promise<void> | undefined;

  constructor(private readonly sql: Sql) {}

  async reload(): Promise<void> {
    const rows = await this.sql.query<OverrideRow>('SELECT provider, model, effective_from, price FROM model_prices ORDER BY effective_from DESC');
    const overrides = new Map<string, OverrideRow[]>();
    const byModel = new Map<string, OverrideRow[]>();
    for (const row of rows) {
      const key = keyOf(row.provider, row.model);
      overrides.set(key, [...(overrides.get(key) ?? []), row]);
      byModel.set(row.model.toLowerCase(), [...(byModel.get(row.model.toLowerCase()) ?? []), row]);
    }
    this.#overrides = overrides;
    this.#byModel = byModel;
    this.#loadedAt = Date.now();
  }

  /**
   * The book as loaded, with a reload started if it is more than a few seconds old (one at a
   * time; one that fails, the database being away, is tried again by the next call, and the
   * book stays as it was). Only the first load is waited for.
   */
  async fresh(): Promise<this> {
    if (this.#loadedAt === 0) await this.reload();
    else if (Date.now() - this.#loadedAt > RELOAD_AFTER_MS) {
      this.#reloading ??= this.reload()
        .catch(() => {})
        .finally(() => {
          this.#reloading = undefined;
        });
    }
    return this;
  }

  /** The price of `model` at `at`, or undefined when nothing prices it. */
  find(model: string, provider: string | undefined, at: Date, settings: Pick<Settings, 'unknownModelPolicy' | 'fallbackPrice'>): PriceEntry | undefined {
    const override = provider
      ? (this.#override(provider, model, at) ?? this.#override('', model, at))
      : (this.#override('', model, at) ?? this.#byModel.get(model.toLowerCase())?.find((row) => row.effective_from <= at)?.price);
    if (override) return override;
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
