/**
 * An account's usage over a range, by model, by day (in its time zone) or by member: tokens,
 * provider cost, the value charged, refunds, and the margin that leaves.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Billing } from '../../engine/billing.ts';
import { usageGroupSchema, usageQuerySchema, type UsageRow } from '../../engine/reads/reads.ts';
import type { Api } from '../api.ts';
import { AccountIdParam, DateTime, errorResponses, json, Micros } from '../schemas.ts';

const UsageRowSchema = z
  .strictObject({
    key: z.string().openapi({ description: 'The model, the day (YYYY-MM-DD in the account\'s time zone) or the member\'s user id ("" for usage that named none); "total" for the total.' }),
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
    groupBy: usageGroupSchema,
    rows: z.array(UsageRowSchema),
    total: UsageRowSchema,
  })
  .openapi('UsageReport');

const withMargin = (row: UsageRow) => ({ ...row, marginMicros: row.valueMicros - row.refundedMicros - row.costMicros });

export function registerUsage(api: Api, billing: Billing) {
  api.openapi(
    createRoute({
      method: 'get', path: '/accounts/{accountId}/usage', tags: ['Accounts'], security: [{ SecretKey: [] }],
      summary: 'Usage over a range, by model, by day or by member, with provider cost, value and margin',
      request: { params: AccountIdParam, query: usageQuerySchema },
      responses: { 200: json(UsageReportSchema, 'The usage, row by row, and its total.'), ...errorResponses },
    }),
    async (c) => {
      const { accountId } = c.req.valid('param');
      const query = c.req.valid('query');
      const { rows, total } = await billing.parsed.usage(accountId, query);
      return c.json({ accountId, from: query.from.toISOString(), to: query.to.toISOString(), groupBy: query.groupBy, rows: rows.map(withMargin), total: withMargin(total) }, 200);
    },
  );
}
