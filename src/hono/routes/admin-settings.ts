/** Settings, for admins: margin, display unit, default plan, unknown-model policy, minimum hold, hold TTL. */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { PRICING_MODES, settingsInputSchema } from '../../core/settings.ts';
import type { Api } from '../api.ts';
import { body, errorResponses, json, Micros, orNull } from '../schemas.ts';
import { PriceEntrySchema } from './admin-prices.ts';

export const SettingsSchema = z
  .strictObject({
    marginBps: z.number().int().openapi({ description: 'Share of the usage value that is margin, in basis points: 5000 = 50%, so $10 of cost sells as $20.' }),
    displayUnit: z.enum(['usd', 'credits']).openapi({ description: 'How amounts are shown: dollars, or credits.' }),
    creditValueMicros: Micros.openapi({ description: 'What one credit is worth, in micro-dollars.' }),
    defaultPlanId: z.number().int().nullable().openapi({ description: 'The free plan new accounts (and those whose paid plan ended) are on.' }),
    unknownModelPolicy: z.enum(['refuse', 'fallback']),
    fallbackPrice: orNull(PriceEntrySchema),
    minHoldMicros: Micros.openapi({ description: 'The hold placed when a call cannot say how large it will be.' }),
    holdTtlSeconds: z.number().int().openapi({ description: 'A hold left open this long lapses.' }),
    pastDueGraceDays: z.number().int().openapi({ description: "Days an account whose renewal's payment failed keeps the default plan's terms before the gate refuses it; 0 refuses at once." }),
    pricingMode: z.enum(PRICING_MODES).nullable().openapi({ description: 'The preset the catalog came from.' }),
    refundUsedValue: z.enum(['debt', 'write_off']).openapi({ description: 'What becomes of value already used of a refunded pack: debt, or written off.' }),
  })
  .openapi('Settings', { description: 'Settings shape pricing for every account. fallbackPrice: what a model the price book does not know is charged, when the policy is fallback.' });

const SettingsPatchSchema = settingsInputSchema.meta({ id: 'SettingsPatch' });

export function registerAdminSettings(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'get', path: '/admin/settings', tags: ['Admin'], security: [{ SecretKey: [] }],
      summary: 'Read the settings',
      responses: { 200: json(SettingsSchema, 'The settings.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.admin.getSettings(), 200),
  );

  api.openapi(
    createRoute({
      method: 'patch', path: '/admin/settings', tags: ['Admin'], security: [{ SecretKey: [] }],
      summary: 'Change settings: the fields sent, the rest as they are',
      request: body(SettingsPatchSchema),
      responses: { 200: json(SettingsSchema, 'The settings as changed.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.parsed.admin.updateSettings(c.req.valid('json')), 200),
  );
}
