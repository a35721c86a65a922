/**
 * The catalog at Stripe: a product for each plan and pack, its id Tollgate's own
 * (tollgate_plan_<slug>, tollgate_pack_<slug>), so a sync finds it again whatever happened to the
 * last one; on it, the price the item sells at (monthly for a plan, one-time for a pack, in US
 * cents), carrying the item in its metadata. A price's amount is never edited: another amount is
 * another price, and the product's other active prices, and the one stored for the item before,
 * are archived. A price is made under an idempotency key naming the item, its amount and the
 * price it replaces, so a retry gets the same price; a sync that died midway finds what it made
 * among the product's prices.
 */
import Stripe from 'stripe';
import type { CatalogItem, SyncedPrice } from '../../engine/processor.ts';
import { retriedAfresh } from './client.ts';
import { PACK_KEY, PLAN_KEY } from './metadata.ts';

export async function syncCatalog(stripe: Stripe, items: readonly CatalogItem[]): Promise<SyncedPrice[]> {
  const synced: SyncedPrice[] = [];
  for (const item of items) synced.push(await syncItem(stripe, item));
  return synced;
}

const productIdOf = (item: CatalogItem) => `tollgate_${item.kind}_${item.slug}`;

/** The plan or pack a product the sync made sells (its id names it), if it is one of those. */
export function slugOfProduct(kind: CatalogItem['kind'], productId: string): string | undefined {
  const prefix = `tollgate_${kind}_`;
  return productId.startsWith(prefix) && productId.length > prefix.length ? productId.slice(prefix.length) : undefined;
}
const metadataOf = (item: CatalogItem) => ({ [item.kind === 'plan' ? PLAN_KEY : PACK_KEY]: item.slug });

async function syncItem(stripe: Stripe, item: CatalogItem): Promise<SyncedPrice> {
  const product = await ensureProduct(stripe, item);
  const active = await stripe.prices.list({ product, active: true, limit: 100 }).autoPagingToArray({ limit: 10_000 });
  const stored = item.priceId && !active.some((p) => p.id === item.priceId) ? await activePrice(stripe, item.priceId) : undefined;
  const candidates = stored ? [stored, ...active] : active;
  const kept = candidates.find((p) => p.id === item.priceId && sellsAt(p, item)) ?? candidates.find((p) => sellsAt(p, item));
  const price =
    kept ??
    (await retriedAfresh(`tollgate-price:${item.kind}:${item.slug}:${item.priceCents}:${item.interval ?? 'once'}:after:${item.priceId ?? 'none'}`, (options) => stripe.prices.create(
      {
        product,
        currency: 'usd',
        unit_amount: item.priceCents,
        ...(item.interval ? { recurring: { interval: item.interval, interval_count: 1 } } : {}),
        nickname: item.name,
        metadata: metadataOf(item),
      },
      options,
    )));
  const archived: string[] = [];
  for (const old of candidates) {
    if (old.id === price.id) continue;
    await stripe.prices.update(old.id, { active: false });
    archived.push(old.id);
  }
  return { kind: item.kind, slug: item.slug, priceId: price.id, created: !kept, archived };
}

/** The item's product, made the first time, and named and active as the item is. */
async function ensureProduct(stripe: Stripe, item: CatalogItem): Promise<string> {
  const id = productIdOf(item);
  const product = (await retrieved(() => stripe.products.retrieve(id))) ?? (await createProduct(stripe, id, item));
  if (!product.active || product.name !== item.name) await stripe.products.update(id, { active: true, name: item.name });
  return id;
}

async function createProduct(stripe: Stripe, id: string, item: CatalogItem): Promise<Stripe.Product> {
  try {
    return await stripe.products.create({ id, name: item.name, metadata: metadataOf(item) });
  } catch (error) {
    // Made by a call whose answer was lost: it is there.
    if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'resource_already_exists') return stripe.products.retrieve(id);
    throw error;
  }
}

/** The price stored for the item, when Stripe still sells at it. */
async function activePrice(stripe: Stripe, id: string): Promise<Stripe.Price | undefined> {
  const price = await retrieved(() => stripe.prices.retrieve(id));
  return price?.active ? price : undefined;
}

/** What Stripe answers, or nothing when it has no such object. */
async function retrieved<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'resource_missing') return undefined;
    throw error;
  }
}

/** Does this price sell the item as it is now: its amount in US cents, monthly for a plan, once for a pack? */
function sellsAt(price: Stripe.Price, item: CatalogItem): boolean {
  if (price.currency !== 'usd' || price.unit_amount !== item.priceCents || price.billing_scheme !== 'per_unit') return false;
  if (!item.interval) return price.type === 'one_time';
  const recurring = price.recurring;
  return price.type === 'recurring' && recurring?.interval === item.interval && recurring.interval_count === 1 && recurring.usage_type === 'licensed';
}
