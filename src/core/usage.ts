/**
 * The one usage shape every provider's report is normalized to. Totals include their parts,
 * as the AI SDK and genai-prices count them: inputTokens includes cache reads and writes,
 * outputTokens includes reasoning.
 */
import { z } from 'zod';
import { plain, tokenCount } from './input.ts';

export const tokenUsageSchema = plain(
  z
    .object({
      inputTokens: tokenCount.meta({ description: 'All input tokens, cache reads and writes included.' }),
      outputTokens: tokenCount.meta({ description: 'All output tokens, reasoning included.' }),
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
    }),
).meta({ id: 'TokenUsage' });

export type TokenUsage = z.infer<typeof tokenUsageSchema>;

export function totalTokens(usage: TokenUsage): number {
  return usage.inputTokens + usage.outputTokens;
}
