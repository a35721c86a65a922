/**
 * The catalog at Paddle: a product for each plan and pack, its custom data naming the plan or
 * pack, and on it the price the item sells at (billed monthly for a plan, once for a pack, in US
 * cents, one at a time). A price's amount is never edited: another amount is another price, and
 * the product's other active prices, and the one stored for the item before, are archived.
 *
 * Paddle takes no idempotency key, and its ids are its own: a sync finds what an earlier one made
 * by reading the catalog first (the products by their custom data, the prices on each product),
 * so one that died midway is finished by the next, making nothing twice. Two at once are kept
 * apart by the engine (catalog/sync.ts).
 */
import { ApiError, type Paddle, type Price, type Product } from '@paddle/paddle-node-sdk';
import type { CatalogItem, SyncedPrice } from '../../engine/processor.ts';
import { customValue, PACK_KEY, PLAN_KEY } from './custom-data.ts';

/** Paddle's largest page. */
const PER_PAGE = 200;

export async function syncCatalog(paddle: Paddle, items: readonly CatalogItem[]): Promise<SyncedPrice[]> {
  const products = await all(paddle.products.list({ status: ['active', 'archived'], perPage: PER_PAGE }));
  const synced: SyncedPrice[] = [];
  for (const item of items) {
    const mine = products.find((p) => customValue(p.customData, keyOf(item)) === item.slug);
    synced.push(await syncItem(paddle, item, mine));
  }
  return synced;
}

const keyOf = (item: CatalogItem) => (item.kind === 'plan' ? PLAN_KEY : PACK_KEY);

async function syncItem(paddle: Paddle, item: CatalogItem, found: Product | undefined): Promise<SyncedPrice> {
  const product = await ensureProduct(paddle, item, found);
  const active = await all(paddle.prices.list({ productId: [product], status: ['active'], perPage: PER_PAGE }));
  const stored = item.priceId && !active.some((p) => p.id === item.priceId) ? await activePrice(paddle, item.priceId) : undefined;
  const candidates = stored ? [stored, ...active] : active;
  const kept = candidates.find((p) => p.id === item.priceId && sellsAt(p, item)) ?? candidates.find((p) => sellsAt(p, item));
  const price =
    kept ??
    (await paddle.prices.create({
      productId: product,
      name: item.name,
      description: item.interval ? `${item.name}, monthly` : `${item.name}, once`,
      unitPrice: { amount: String(item.priceCents), currencyCode: 'USD' },
      billingCycle: item.interval ? { interval: item.interval, frequency: 1 } : null,
      // One at a time: a pack's value and a plan's allowance are granted once per payment.
      quantity: { minimum: 1, maximum: 1 },
      customData: { [keyOf(item)]: item.slug },
    }));
  const archived: string[] = [];
  for (const old of candidates) {
    if (old.id === price.id) continue;
    await paddle.prices.archive(old.id);
    archived.push(old.id);
  }
  return { kind: item.kind, slug: item.slug, priceId: price.id, created: !kept, archived };
}

/** The item's product: made the first time, and named and active as the item is. */
async function ensureProduct(paddle: Paddle, item: CatalogItem, found: Product | undefined): Promise<string> {
  if (!found) return (await paddle.products.create({ name: item.name, taxCategory: 'standard', customData: { [keyOf(item)]: item.slug } })).id;
  if (found.status !== 'active' || found.name !== item.name) await paddle.products.update(found.id, { name: item.name, status: 'active' });
  return found.id;
}

/** The price stored for the item, when Paddle still sells at it. */
async function activePrice(paddle: Paddle, id: string): Promise<Price | undefined> {
  try {
    const price = await paddle.prices.get(id);
    return price.status === 'active' ? price : undefined;
  } catch (error) {
    if (error instanceof ApiError && error.code === 'not_found') return undefined;
    throw error;
  }
}

/** Does this price sell the item as it is now: its amount in US cents, monthly for a plan, once for a pack, one at a time? */
function sellsAt(price: Price, item: CatalogItem): boolean {
  if (price.unitPrice.currencyCode !== 'USD' || price.unitPrice.amount !== String(item.priceCents) || price.trialPeriod) return false;
  if (price.unitPriceOverrides.length > 0 || price.quantity.maximum !== 1) return false;
  const cycle = price.billingCycle;
  return item.interval ? cycle?.interval === item.interval && cycle.frequency === 1 : cycle === null;
}

/** Every page of a list. */
async function all<T>(collection: { hasMore: boolean; next(): Promise<T[]> }): Promise<T[]> {
  const items: T[] = [];
  while (collection.hasMore) items.push(...(await collection.next()));
  return items;
}
