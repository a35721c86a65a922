/**
 * Presets, for admins: one of the four pricing modes made the catalog at once (its plans and
 * packs on sale, its free tier the default). Plans it does not name stay for the accounts on
 * them; nobody's purchased credit is touched. The subscribers of a plan it gives new terms keep
 * their version, or move to the new one at their renewal (the body's subscribers, as the library takes it).
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { PRICING_MODES } from '../../core/settings.ts';
import { presetOptionsSchema } from '../../engine/catalog/presets.ts';
import type { Api } from '../api.ts';
import { errorResponses, IdempotencyKeyHeader, json } from '../schemas.ts';
import { SettingsSchema } from './admin-settings.ts';

const PresetParam = z.object({ mode: z.enum(PRICING_MODES).openapi({ param: { name: 'mode', in: 'path' }, example: 'subscription-plus-packs' }) });

export function registerAdminPresets(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'post', path: '/admin/presets/{mode}/apply', tags: ['Admin'], security: [{ SecretKey: [] }],
      summary: 'Apply a pricing preset: usage-subscription, credit-packs, subscription-plus-packs or tiers',
      description: 'A plan the mode gives new terms is a new version: its subscribers keep the version they bought (subscribers: keep, the default, also with no body), or move to the new one at their renewal (renewal).',
      request: {
        params: PresetParam,
        headers: IdempotencyKeyHeader,
        body: { content: { 'application/json': { schema: presetOptionsSchema.meta({ id: 'PresetOptions' }) } }, required: false },
      },
      responses: { 200: json(SettingsSchema, 'The settings after it.'), ...errorResponses },
    }),
    async (c) => c.json(await billing.admin.applyPreset(c.req.valid('param').mode, c.req.valid('json')), 200),
  );
}
