/**
 * The AI SDK's usage, as a provider reported it, in Tollgate's one usage shape
 * (core/usage.ts). The SDK's providers have already converted their payloads to its v3 shape:
 * input as a total with its no-cache, cache-read and cache-write parts, output as a total with
 * its text and reasoning parts. Mapped exactly: totals include their parts on both sides, and
 * a part the provider did not report stays undefined, never 0.
 */
import type { LanguageModelV3Usage } from '@ai-sdk/provider';
import type { TokenUsage } from '../core/usage.ts';

const sum = (...parts: (number | undefined)[]): number | undefined =>
  parts.every((p) => p === undefined) ? undefined : parts.reduce<number>((total, p) => total + (p ?? 0), 0);

/**
 * The usage a provider reported. A total it left out is the sum of the parts it gave, or,
 * without parts either, the `fallback` estimate (`estimated` says so); a total smaller than
 * its parts (a provider that counts cache reads apart from its input) is raised to them.
 */
export function tokenUsageOf(
  usage: LanguageModelV3Usage | undefined, fallback: { inputTokens: number; outputTokens: number },
): { usage: TokenUsage; estimated: boolean } {
  const input = usage?.inputTokens;
  const output = usage?.outputTokens;
  const inputTokens = max(input?.total, sum(input?.noCache, input?.cacheRead, input?.cacheWrite));
  const outputTokens = max(output?.total, sum(output?.text, output?.reasoning));
  return {
    usage: {
      inputTokens: inputTokens ?? fallback.inputTokens,
      outputTokens: outputTokens ?? fallback.outputTokens,
      ...(input?.cacheRead === undefined ? {} : { cacheReadTokens: input.cacheRead }),
      ...(input?.cacheWrite === undefined ? {} : { cacheWriteTokens: input.cacheWrite }),
      ...(output?.reasoning === undefined ? {} : { reasoningTokens: output.reasoning }),
    },
    estimated: inputTokens === undefined || outputTokens === undefined,
  };
}

function max(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : Math.max(a, b);
}
