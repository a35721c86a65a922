/** The money view, for admins: money collected beside usage value charged, provider cost and margin, by day, by source and by model. */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { moneyRangeSchema } from '../../engine/reads/money.ts';
import type { Api } from '../api.ts';
import { DateTime, errorResponses, json, Micros } from '../schemas.ts';

const Cents = z.number().int();

const collectedShape = {
  payments: z.number().int().openapi({ description: 'Payments received.' }),
  paidCents: Cents.openapi({ description: 'What they paid, in cents.' }),
  refundedCents: Cents.openapi({ description: 'Refunds applied in the range, whenever their payment was.' }),
  disputedCents: Cents.openapi({ description: 'Disputes (chargebacks) applied in the range, less what disputes won in it gave back.' }),
  netCents: Cents.openapi({ description: 'Money collected: paid − refunded − disputed.' }),
};
const CollectedSchema = z
  .strictObject(collectedShape)
  .openapi('MoneyCollected', { description: 'Money through the processors (packs, subscriptions, auto-recharges), each on the day it happened.' });

const usageShape = {
  events: z.number().int(),
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  chargedMicros: Micros.openapi({ description: 'What the usage charged, before usage refunds.' }),
  refundedMicros: Micros.openapi({ description: 'Usage refunds given back on it.' }),
  valueMicros: Micros.openapi({ description: 'Usage value charged: charged − refunded.' }),
  costMicros: Micros.openapi({ description: 'The provider\'s cost of the usage.' }),
  marginMicros: Micros.openapi({ description: 'value − cost.' }),
};
const UsageSchema = z.strictObject(usageShape).openapi('MoneyUsage', { description: 'Usage across accounts, on the day of the usage.' });

const MoneyViewSchema = z
  .strictObject({
    from: DateTime,
    to: DateTime,
    days: z.array(z.strictObject({ day: z.string().openapi({ description: 'YYYY-MM-DD, UTC.' }), collected: CollectedSchema, usage: UsageSchema })).openapi({
      description: 'Every UTC day of the range, oldest first; days without anything as zeros.',
    }),
    // One object of its own, as a model's row is: the component extended is an allOf of two closed objects, which no source matches.
    sources: z.array(z.strictObject({ processor: z.string(), kind: z.enum(['pack', 'subscription', 'recharge']), ...collectedShape })).openapi({
      description: 'Money collected by processor and kind (recharge: a pack auto-recharge bought), most kept first.',
    }),
    models: z.array(z.strictObject({ model: z.string(), ...usageShape })).openapi({ description: 'Usage by model, most value first.' }),
    total: z.strictObject({ collected: CollectedSchema, usage: UsageSchema }).openapi({ description: 'The days added up; the sources and the models add up to it too.' }),
  })
  .openapi('MoneyView');

export function registerAdminAnalytics(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'get', path: '/admin/analytics', tags: ['Admin'], security: [{ SecretKey: [] }],
      summary: 'The money view: money collected, usage value charged, provider cost and margin, by day, by source and by model',
      request: { query: moneyRangeSchema },
      responses: { 200: json(MoneyViewSchema, 'The figures over the range.'), ...errorResponses },
    }),
    async (c) => {
      const view = await billing.parsed.admin.analytics(c.req.valid('query'));
      return c.json({ ...view, from: view.from.toISOString(), to: view.to.toISOString() }, 200);
    },
  );
}
