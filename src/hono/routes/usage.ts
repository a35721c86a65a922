/**
 * An account's usage over a range, by model or by day (in its time zone): tokens, provider
 * cost, the value charged, refunds, and the margin that leaves.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import type { UsageRow } from '../../engine/reads/reads.ts';
import type { Api } from '../api.ts';
import { AccountIdParam, DateTime, errorResponses, json, Micros } from '../schemas.ts';

const isoMoment = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })])
  .openapi({ description: 'An ISO 8601 date ("2026-03-01", midnight UTC) or date-time with its offset.', example: '2026-03-01' });

const UsageQuerySchema = z.strictObject({
  from: isoMoment.openapi({ description: 'The range\'s start, included.', example: '2026-03-01' }),
  to: isoMoment.openapi({ description: 'The range\'s end, excluded.', example: '2026-04-01' }),
  groupBy: z.enum(['model', 'day']).optional().openapi({ description: 'model (the default) or day, in the account\'s time zone.' }),
});

const UsageRowSchema = z
  .strictObject({
    key: z.string().openapi({ description: 'The model, or the day (YYYY-MM-DD in the account\'s time zone); "total" for the total.' }),
    events: z.number().int(),
    inputTokens: z.number().int(),
    outputTokens: z.number().int(),
    cacheReadTokens: z.number().int(),
    cacheWriteTokens: z.number().int(),
    reasoningTokens: z.number().int(),
    costMicros: Micros.openapi({ description: 'What the provider charged for it.' }),
    valueMicros: Micros.openapi({ description: 'The usage value charged to the account (cost with margin).' }),
    refundedMicros: Micros.openapi({ description: 'Value given back by refunds.' }),
    marginMicros: Micros.openapi({ description: 'What the usage earned over its provider cost: value − refunded − cost.' }),
  })
  .openapi('UsageRow');

const UsageReportSchema = z
  .strictObject({
    accountId: z.string(),
    from: DateTime,
    to: DateTime,
    groupBy: z.enum(['model', 'day']),
    rows: z.array(UsageRowSchema),
    total: UsageRowSchema,
  })
  .openapi('UsageReport');

const withMargin = (row: UsageRow) => ({ ...row, marginMicros: row.valueMicros - row.refundedMicros - row.costMicros });

export function registerUsage(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'get', path: '/accounts/{accountId}/usage', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'Usage over a range, by model or by day, with provider cost, value and margin',
      request: { params: AccountIdParam, query: UsageQuerySchema },
      responses: { 200: json(UsageReportSchema, 'The usage, row by row, and its total.'), ...errorResponses },
    }),
    async (c) => {
      const { accountId } = c.req.valid('param');
      const { from, to, groupBy = 'model' } = c.req.valid('query');
      const { rows, total } = await billing.usage(accountId, { from, to, groupBy });
      return c.json({ accountId, from: new Date(from).toISOString(), to: new Date(to).toISOString(), groupBy, rows: rows.map(withMargin), total: withMargin(total) }, 200);
    },
  );
}
