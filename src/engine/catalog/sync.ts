/**
 * The catalog at a processor: the prices plans and packs sell at there, made by the processor
 * (processor.ts, syncCatalog) and kept on each plan and pack (processorPrices, by processor),
 * where checkout reads them. Plans and packs on sale are synced: a paid plan as a monthly price,
 * a pack as a one-time one.
 *
 * A sync holds its processor's row of catalog_syncs locked from before it reads the catalog to
 * after it stores the ids, so two syncs at once, in any processes, run one after the other: the
 * second reads what the first stored, and its processor finds what the first made. One that dies
 * midway stores nothing, and the processor finds what it made on the next run (by the ids and
 * metadata it gives everything it makes), so nothing is made twice. A price stored is only
 * replaced when the plan or pack still costs what was synced: a price changed during a sync is
 * taken up by the next one. A price replaced stays on the versions sold at it (plan_versions,
 * pack_versions): a payment at it, late, is still known.
 */
import { BillingError } from '../../core/errors.ts';
import type { Sql } from '../../db/sql.ts';
import type { Context } from '../context.ts';
import type { CatalogItem, SyncedPrice } from '../processor.ts';
import { listPacks, listPlans } from './catalog.ts';

/** What became of an item: a price made now, one found at the processor and stored now, or the one stored already. */
export type SyncOutcome = 'created' | 'linked' | 'unchanged';

export interface SyncedItem {
  kind: 'plan' | 'pack';
  slug: string;
  name: string;
  priceCents: number;
  priceId: string;
  /** The price stored before this sync, if any. */
  previousPriceId: string | null;
  outcome: SyncOutcome;
  /** Prices the processor archived for it: an earlier amount's. */
  archived: string[];
}

export interface CatalogSync {
  processor: string;
  syncedAt: Date;
  items: SyncedItem[];
  created: number;
  linked: number;
  unchanged: number;
  archived: number;
}

/** The last sync to each processor that went through, and the last that failed, with why. */
export interface CatalogSyncState {
  processor: string;
  last: CatalogSync | null;
  failure: { at: Date; error: string } | null;
}

/** The plans and packs on sale, as the processor sells them, with the price each has there now. */
async function catalogItems(tx: Sql, processor: string): Promise<CatalogItem[]> {
  const plans = (await listPlans(tx, { status: 'active' })).filter((p) => p.priceCents > 0); // a free plan is never paid for
  const packs = await listPacks(tx, { status: 'active' });
  return [
    ...plans.map((p) => ({ kind: 'plan' as const, slug: p.slug, name: p.name, priceCents: p.priceCents, interval: 'month' as const, priceId: p.processorPrices[processor] ?? null })),
    ...packs.map((k) => ({ kind: 'pack' as const, slug: k.slug, name: k.name, priceCents: k.priceCents, interval: null, priceId: k.processorPrices[processor] ?? null })),
  ];
}

function outcomeOf(item: CatalogItem, synced: SyncedPrice): SyncOutcome {
  if (synced.created) return 'created';
  return synced.priceId === item.priceId ? 'unchanged' : 'linked';
}

export async function syncCatalog(ctx: Context, processorName: string): Promise<CatalogSync> {
  const processor = ctx.processors.get(processorName);
  if (!processor) {
    throw new BillingError('processor_not_configured', `No processor "${processorName}" is configured here: choose one of ${[...ctx.processors.keys()].join(', ') || 'none'}`, {
      processor: processorName,
    });
  }
  if (!processor.syncCatalog) {
    throw new BillingError('processor_not_configured', `The processor "${processorName}" keeps no catalog: there is nothing to sync`, { processor: processorName });
  }
  const sync = processor.syncCatalog.bind(processor);
  try {
    return await ctx.sql.transaction(async (tx) => {
      await tx.query('INSERT INTO catalog_syncs (processor) VALUES ($1) ON CONFLICT (processor) DO NOTHING', [processorName]);
      await tx.query('SELECT 1 FROM catalog_syncs WHERE processor = $1 FOR UPDATE', [processorName]);
      const items = await catalogItems(tx, processorName); // read under the lock: what a sync before this one stored
      let answers: SyncedPrice[];
      try {
        answers = await sync(items);
      } catch (error) {
        if (error instanceof BillingError) throw error;
        throw new BillingError(
          'processor_error',
          `${processorName} did not complete the catalog sync: ${error instanceof Error ? error.message : String(error)}. ` +
            'Nothing was stored; what it made is found again when the sync runs again',
          { processor: processorName },
        );
      }
      const synced: SyncedItem[] = items.map((item) => {
        const answer = answers.find((a) => a.kind === item.kind && a.slug === item.slug);
        if (!answer) throw new Error(`The processor "${processorName}" answered the catalog sync without the ${item.kind} "${item.slug}"`);
        return { kind: item.kind, slug: item.slug, name: item.name, priceCents: item.priceCents, priceId: answer.priceId, previousPriceId: item.priceId, outcome: outcomeOf(item, answer), archived: answer.archived };
      });
      // Only what changed is written: a plan or pack changed moves the catalog's version, which every process then reads again.
      for (const item of synced.filter((i) => i.priceId !== i.previousPriceId)) {
        await tx.query(
          `UPDATE ${item.kind === 'plan' ? 'plans' : 'packs'} SET processor_prices = processor_prices || jsonb_build_object($2::text, $3::text)
           WHERE slug = $1 AND price_cents = $4`,
          [item.slug, processorName, item.priceId, item.priceCents],
        );
      }
      const result: CatalogSync = {
        processor: processorName,
        syncedAt: ctx.clock(),
        items: synced,
        created: synced.filter((i) => i.outcome === 'created').length,
        linked: synced.filter((i) => i.outcome === 'linked').length,
        unchanged: synced.filter((i) => i.outcome === 'unchanged').length,
        archived: synced.reduce((n, i) => n + i.archived.length, 0),
      };
      await tx.query('UPDATE catalog_syncs SET result = $2, synced_at = $3 WHERE processor = $1', [processorName, JSON.stringify(result), result.syncedAt]);
      return result;
    });
  } catch (error) {
    // Nothing of the sync was stored; its failure is, for the admin.
    const message = error instanceof Error ? error.message : String(error);
    await ctx.sql.query(
      `INSERT INTO catalog_syncs (processor, error, failed_at) VALUES ($1, $2, $3)
       ON CONFLICT (processor) DO UPDATE SET error = EXCLUDED.error, failed_at = EXCLUDED.failed_at`,
      [processorName, message.slice(0, 2_000), ctx.clock()],
    );
    throw error;
  }
}

/** Each processor's last sync and last failure. */
export async function catalogSyncs(ctx: Context): Promise<CatalogSyncState[]> {
  const rows = await ctx.sql.query<{ processor: string; result: (Omit<CatalogSync, 'syncedAt'> & { syncedAt: string }) | null; error: string | null; failed_at: Date | null }>(
    'SELECT processor, result, error, failed_at FROM catalog_syncs ORDER BY processor',
  );
  return rows.map((r) => ({
    processor: r.processor,
    last: r.result ? { ...r.result, syncedAt: new Date(r.result.syncedAt) } : null,
    failure: r.error !== null && r.failed_at !== null ? { at: r.failed_at, error: r.error } : null,
  }));
}
