/**
 * Auto-recharge: the account's setting (PUT, idempotent by nature). Its state, and why it turned
 * itself off if it did, is in the balance (`autoRecharge`); the recharges run in the server's
 * workers (billing.runRecharges).
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { autoRechargeInputSchema } from '../../engine/grants/auto-recharge.ts';
import type { Api } from '../api.ts';
import { AccountIdParam, body, DateTime, errorResponses, json, Micros } from '../schemas.ts';

const AutoRechargeRequestSchema = autoRechargeInputSchema.meta({ id: 'AutoRechargeRequest' });

export const AutoRechargeSchema = z
  .strictObject({
    enabled: z.boolean(),
    pack: z.string().openapi({ description: 'The pack each recharge buys.' }),
    thresholdMicros: Micros,
    monthlyMaxCount: z.number().int().nullable(),
    monthlyMaxMicros: Micros.nullable(),
    state: z.enum(['on', 'off', 'paused', 'disabled']).openapi({
      description: 'on; off: it turned itself off (see off: a declined card, authentication required, no saved card, a pack no longer for sale to the account) until set again; paused: a monthly cap was reached, until pausedUntil; disabled: set off.',
    }),
    off: z
      .strictObject({
        code: z.enum(['card_declined', 'authentication_required', 'no_payment_method', 'pack_unavailable', 'processor_unanswered']),
        message: z.string().openapi({ description: 'Why, in a sentence: the gate\'s refusal says it too.' }),
        at: DateTime,
      })
      .nullable(),
    pausedUntil: DateTime.nullable(),
    recharging: z.boolean().openapi({ description: 'A recharge is in flight now.' }),
  })
  .openapi('AutoRecharge');

export function registerAutoRecharge(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'put', path: '/accounts/{accountId}/auto-recharge', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'Buy a pack on the saved card whenever a charge leaves less than the threshold available, within monthly caps; set again to turn it back on after a decline',
      request: { params: AccountIdParam, ...body(AutoRechargeRequestSchema) },
      responses: { 200: json(AutoRechargeSchema, 'The setting, with its state.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.parsed.setAutoRecharge(c.req.valid('param').accountId, c.req.valid('json')), 200),
  );
}
