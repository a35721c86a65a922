/**
 * Pack versions (migration 0031): a change to what a pack sells (its price, value or expiry)
 * makes a new version, and every version is kept with the processor prices it was sold at. A
 * checkout page opened before the change (a Stripe Checkout Session lives a day, a Paddle
 * transaction until it is paid) and paid after it bought the pack as it sold then: its payment is
 * credited as the version sold at the price it paid, never as the pack is now. A change at the
 * same price (fewer credits, a shorter expiry) leaves the price unable to tell the versions apart:
 * the checkout records the version it was opened at under the processor's reference for the page
 * (pack_checkouts, migration 0034), its payment names that page back, and the version recorded is
 * the one credited, if it was sold at the price paid. The processor's reference, never data the
 * customer's browser could set (a Paddle transaction's custom data).
 */
import { formatCents, type Micros } from '../../core/money.ts';
import type { Pack } from '../../core/pack.ts';
import type { Sql } from '../../db/sql.ts';

/**
 * The version of pack `$1` sold at processor `$2`'s price `$3` (any price, when none is told) for
 * `$4` cents: the one checkout `$5` was opened at, if it is one of them, else the newest. A version
 * made before a sync keeps the price of the one before it until the sync, so with no amount told,
 * the versions sold at a price are those of the first one's.
 */
const VERSION_SOLD_AT = `WITH sold AS (
    SELECT version, price_cents, value_micros, expires_after_days FROM pack_versions
    WHERE pack_id = $1 AND ($3::text IS NULL OR processor_prices ->> $2 = $3))
  SELECT price_cents, value_micros, expires_after_days FROM sold
  WHERE price_cents = COALESCE($4::bigint, (SELECT price_cents FROM sold ORDER BY version LIMIT 1))
  ORDER BY version IS NOT DISTINCT FROM (SELECT pack_version FROM pack_checkouts WHERE processor = $2 AND reference = $5 AND pack_id = $1) DESC,
    version DESC LIMIT 1`;

/** Records the version of a pack a checkout page sells, by the processor's reference for the page: once, a retry's page being the same. */
export async function recordPackCheckout(tx: Sql, processor: string, reference: string, pack: { id: number; version: number }): Promise<void> {
  await tx.query('INSERT INTO pack_checkouts (processor, reference, pack_id, pack_version) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [processor, reference, pack.id, pack.version]);
}

/**
 * The pack as it was sold by a payment that names the price it paid (`priceRef`, its amount
 * `priceCents`, either or both): the version its checkout (`checkoutRef`) was opened at if it
 * sold at them, else the current version if it did, else the newest past one that did. Neither
 * told: the pack as it is. A price no version was sold at (one linked by hand that is not the
 * pack's) credits nothing: the payment is refused, for an admin.
 */
export async function packSoldAt(
  tx: Sql, processor: string, pack: Pack, paid: { paymentRef: string; priceRef?: string; priceCents?: number; checkoutRef?: string },
): Promise<Pack> {
  if (paid.priceRef === undefined && paid.priceCents === undefined) return pack;
  const [sold] = await tx.query<{ price_cents: number; value_micros: Micros | null; expires_after_days: number | null }>(VERSION_SOLD_AT, [
    pack.id, processor, paid.priceRef ?? null, paid.priceCents ?? null, paid.checkoutRef ?? null,
  ]);
  if (sold) return { ...pack, priceCents: sold.price_cents, valueMicrosOverride: sold.value_micros, expiresAfterDays: sold.expires_after_days };
  const price = paid.priceRef === undefined ? formatCents(paid.priceCents!) : `the price ${paid.priceRef}${paid.priceCents === undefined ? '' : ` at ${formatCents(paid.priceCents)}`}`;
  throw new Error(
    `Payment ${paid.paymentRef} at ${processor} paid ${price}, not the pack's price (${pack.processorPrices[processor] ?? 'none'} at ${formatCents(pack.priceCents)}) ` +
      `nor one a version of the pack "${pack.slug}" was sold at (a price linked by hand that is not its own): nothing was credited; refund it at the processor, or credit the account by hand`,
  );
}
