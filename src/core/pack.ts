/** A credit pack: a one-time purchase that adds a bucket of usage value. */
import { z } from 'zod';
import { cents, int4, micros, plain, slugSchema, text } from './input.ts';
import { centsToMicros, type Micros } from './money.ts';
import { processorPricesSchema } from './plan.ts';

export const packInputSchema = plain(
  z
    .object({
      slug: slugSchema,
      name: text(100).trim().min(1, 'must not be empty'),
      status: z.enum(['active', 'archived']).default('active'),
      priceCents: cents.positive('must be more than zero'),
      /** Usage value granted; defaults to the price, more is a bonus. */
      valueMicros: micros.positive('must be more than zero').nullable().optional(),
      expiresAfterDays: z.number().int('must be whole days').positive('must be at least one day').max(3650, 'must be at most 3,650 days (ten years)').nullable().optional(),
      /** Sold only as an add-on to a paid plan. */
      requiresPlan: z.boolean().default(false),
      processorPrices: processorPricesSchema.default({}),
      public: z.boolean().default(true),
      sort: int4.default(0),
    })
    .strict(),
);
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
