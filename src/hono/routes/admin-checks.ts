/** The catalog's sanity checks, for admins: what is wrong with the plans and packs as they stand, in the owner's words. */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { CHECK_CODES } from '../../core/sanity.ts';
import type { Api } from '../api.ts';
import { errorResponses, json } from '../schemas.ts';

const CheckSchema = z
  .strictObject({
    severity: z.enum(['warning', 'notice']).openapi({ description: 'warning: money is lost, or a customer cannot get what they pay for; notice: confusing, but it costs nothing.' }),
    subject: z.strictObject({ kind: z.enum(['plan', 'pack']), slug: z.string() }).openapi({ description: 'The plan or pack it is about.' }),
    code: z.enum(CHECK_CODES),
    message: z.string().openapi({ description: 'What is wrong and what it costs, in dollars.', example: '“Pro” costs $5.00 a month and lets a subscriber use $500.00 of usage, which costs you $250.00 at the 50% margin: each subscriber who uses it all loses you $245.00 a month.' }),
  })
  .openapi('CatalogCheck', { description: 'Something an owner would want to know about a plan or pack before a customer finds it. Nothing is refused for it.' });

export function registerAdminChecks(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'get', path: '/admin/checks', tags: ['Admin'], security: [{ SecretKey: [] }],
      summary: 'Sanity checks of the plans and packs: what loses money at the margin, a pack no plan on sale can spend, plans sharing a name, limits at odds with what a plan includes',
      responses: { 200: json(z.strictObject({ data: z.array(CheckSchema) }).openapi('CatalogChecks'), 'Every check that fails, plans first; none when all is well.'), ...errorResponses },
    }),
    async (c) => c.json({ data: await billing.admin.checks() }, 200),
  );
}
