/** A credit pack: a one-time purchase that adds a bucket of usage value. */
import { z } from 'zod';
import { cents, grantMicros, int4, patchOf, plain, slugSchema, text } from './input.ts';
import { centsToMicros, type Micros } from './money.ts';
import { processorPricesSchema } from './plan.ts';

export const PACK_STATUSES = ['active', 'archived'] as const;

/** What makes a pack besides its slug, which is for good: each field's default is a new pack's. */
const packFields = {
  name: text(100).trim().min(1, 'must not be empty'),
  status: z.enum(PACK_STATUSES).default('active'),
  priceCents: cents.positive('must be more than $0.00').meta({ description: 'The price, in cents.', example: 1000 }),
  valueMicros: grantMicros.positive('must be more than $0.00').nullable().optional().meta({ description: 'Usage value granted; null or left out: the price (more is a bonus).' }),
  expiresAfterDays: z
    .number({ error: 'must be a number of days' })
    .int('must be whole days')
    .positive('must be at least one day')
    .max(3650, 'must be at most 3,650 days (ten years)')
    .nullable()
    .optional()
    .meta({ description: 'Days the value lasts from the purchase; null or left out: it never expires.' }),
  requiresPlan: z.boolean().default(false).meta({ description: 'Sold only as an add-on to a paid plan.' }),
  processorPrices: processorPricesSchema.default({}),
  public: z.boolean().default(true).meta({ description: 'Shown in the pricing table.' }),
  sort: int4.default(0),
};

export const packInputSchema = plain(z.object({ slug: slugSchema.meta({ example: 'extra-10' }), ...packFields }).strict());
/** A change to a pack: the fields to change; the pack it makes is checked as a whole (packInputSchema). */
export const packPatchSchema = patchOf(packFields);
export type PackInput = z.input<typeof packInputSchema>;

export interface Pack {
  id: number;
  slug: string;
  name: string;
  status: 'active' | 'archived';
  priceCents: number;
  valueMicrosOverride: Micros | null;
  expiresAfterDays: number | null;
  requiresPlan: boolean;
  processorPrices: Record<string, string>;
  public: boolean;
  sort: number;
}

/** The input that makes a pack as it is: what a change is merged over, every field present. */
export function packToInput(pack: Pack): Required<PackInput> {
  return {
    slug: pack.slug, name: pack.name, status: pack.status, priceCents: pack.priceCents, valueMicros: pack.valueMicrosOverride,
    expiresAfterDays: pack.expiresAfterDays, requiresPlan: pack.requiresPlan, processorPrices: pack.processorPrices,
    public: pack.public, sort: pack.sort,
  };
}

export function packValueMicros(pack: Pick<Pack, 'priceCents' | 'valueMicrosOverride'>): Micros {
  return pack.valueMicrosOverride ?? centsToMicros(pack.priceCents);
}
