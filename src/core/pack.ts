/** A credit pack: a one-time purchase that adds a bucket of usage value. */
import { z } from 'zod';
import { centsToMicros, type Micros } from './money.ts';

export const packInputSchema = z
  .object({
    slug: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be 1–63 lowercase letters, digits, "-" or "_"'),
    name: z.string().trim().min(1, 'must not be empty').max(100),
    status: z.enum(['active', 'archived']).default('active'),
    priceCents: z.number().int('must be whole cents').positive('must be more than zero').max(100_000_000_00),
    /** Usage value granted; defaults to the price, more is a bonus. */
    valueMicros: z.number().int().positive('must be more than zero').max(Number.MAX_SAFE_INTEGER).nullable().optional(),
    expiresAfterDays: z.number().int().positive('must be at least one day').max(3650).nullable().optional(),
    /** Sold only as an add-on to a paid plan. */
    requiresPlan: z.boolean().default(false),
    processorPrices: z.record(z.string(), z.string()).default({}),
    public: z.boolean().default(true),
    sort: z.number().int().default(0),
  })
  .strict();
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

export function packValueMicros(pack: Pick<Pack, 'priceCents' | 'valueMicrosOverride'>): Micros {
  return pack.valueMicrosOverride ?? centsToMicros(pack.priceCents);
}
