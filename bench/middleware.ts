/**
 * The AI SDK middleware's own cost per model call: generateText on the AI SDK's mock model,
 * bare and wrapped with billing.wrap (an authorize before the call, a settle after it), one
 * call at a time on one funded account, the two kinds interleaved so that a machine's drift
 * weighs on both alike. The overhead is the difference of their medians.
 */
import { generateText } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { createBilling } from '../src/index.ts';
import { wrap } from '../src/ai/index.ts';
import { percentiles, type Percentiles } from './load.ts';
import type { BenchDatabase } from './scenarios.ts';

export interface MiddlewareResult {
  engine: BenchDatabase['engine'];
  calls: number;
  /** Milliseconds per generateText call. */
  bare: Percentiles;
  wrapped: Percentiles;
  overheadMs: { p50: number; p99: number };
}

const PROMPT = 'Summarize the plot of a short story about a toll gate that says no politely, with a remedy, in three sentences.';

export async function benchMiddleware(database: BenchDatabase, calls: number): Promise<MiddlewareResult> {
  const billing = await createBilling({ database: database.url });
  try {
    await billing.admin.applyPreset('credit-packs');
    await billing.upsertAccount({ id: 'bench-ai', kind: 'team' });
    await billing.credit('bench-ai', { source: 'bonus', amountMicros: 1_000_000_000, reference: 'bench-funding' });
    const model = new MockLanguageModelV3({
      provider: 'openai.chat', modelId: 'gpt-4o-mini',
      doGenerate: async () => ({
        content: [{ type: 'text', text: 'A gate said no, kindly, and named the remedy.' }], finishReason: { unified: 'stop', raw: 'stop' }, warnings: [],
        usage: { inputTokens: { total: 30, noCache: 30, cacheRead: undefined, cacheWrite: undefined }, outputTokens: { total: 12, text: 12, reasoning: undefined } },
      }),
    });
    const wrapped = wrap(billing, model, { accountId: 'bench-ai', userId: 'u_1' });
    const time = async (m: typeof model | typeof wrapped) => {
      const start = performance.now();
      await generateText({ model: m, prompt: PROMPT, maxOutputTokens: 200 });
      return performance.now() - start;
    };
    for (let i = 0; i < Math.min(100, calls); i++) await time(i % 2 ? model : wrapped); // warm-up: JIT, the account known
    const bare: number[] = [];
    const metered: number[] = [];
    for (let i = 0; i < calls; i++) {
      bare.push(await time(model));
      metered.push(await time(wrapped));
    }
    const b = percentiles(bare);
    const w = percentiles(metered);
    const round = (ms: number) => Math.round(ms * 1000) / 1000;
    return { engine: database.engine, calls, bare: b, wrapped: w, overheadMs: { p50: round(w.p50 - b.p50), p99: round(w.p99 - b.p99) } };
  } finally {
    await billing.close();
    await database.drop();
  }
}

export function formatMiddleware(r: MiddlewareResult): string {
  const ms = (n: number) => `${n.toFixed(3)} ms`;
  return `AI SDK middleware (${r.engine}, ${r.calls} generateText calls each, one at a time): bare mock model p50 ${ms(r.bare.p50)}, p99 ${ms(r.bare.p99)}; ` +
    `wrapped p50 ${ms(r.wrapped.p50)}, p99 ${ms(r.wrapped.p99)}; the middleware's own cost p50 ${ms(r.overheadMs.p50)}, p99 ${ms(r.overheadMs.p99)} a call`;
}
