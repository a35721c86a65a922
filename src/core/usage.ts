/**
 * The one usage shape every provider's report is normalized to. Totals include their parts,
 * as the AI SDK and genai-prices count them: inputTokens includes cache reads and writes,
 * outputTokens includes reasoning.
 */
import { z } from 'zod';
import { BillingError } from './errors.ts';

const tokenCount = z.number().int('must be a whole number of tokens').nonnegative('must not be negative').max(Number.MAX_SAFE_INTEGER, 'must be below 2^53');

export const tokenUsageSchema = z
  .object({
    inputTokens: tokenCount,
    outputTokens: tokenCount,
    cacheReadTokens: tokenCount.optional(),
    cacheWriteTokens: tokenCount.optional(),
    reasoningTokens: tokenCount.optional(),
  })
  .strict()
  .refine((u) => (u.cacheReadTokens ?? 0) + (u.cacheWriteTokens ?? 0) <= u.inputTokens, {
    message: 'cacheReadTokens + cacheWriteTokens must not exceed inputTokens (inputTokens counts them too)',
    path: ['inputTokens'],
  })
  .refine((u) => (u.reasoningTokens ?? 0) <= u.outputTokens, {
    message: 'reasoningTokens must not exceed outputTokens (outputTokens counts them too)',
    path: ['outputTokens'],
  });

export type TokenUsage = z.infer<typeof tokenUsageSchema>;

export function totalTokens(usage: TokenUsage): number {
  return usage.inputTokens + usage.outputTokens;
}

/** Parse untrusted input with a schema; failures become one invalid_input error naming the fields. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || what}: ${issue.message}`);
  throw new BillingError('invalid_input', `Invalid ${what}: ${problems.join('; ')}`, { issues: problems });
}
