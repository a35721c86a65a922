/**
 * The prompt's token estimate (a documented conservative ratio) and the mapping of a
 * provider's reported usage to Tollgate's one usage shape. Pure: no database.
 */
import { describe, expect, it } from 'vitest';
import type { LanguageModelV3Prompt } from '@ai-sdk/provider';
import { BYTES_PER_TOKEN, IMAGE_TOKENS, MESSAGE_TOKENS, PROMPT_TOKENS, TOOLS_TOKENS, FILE_TOKENS, promptTokens, textTokens, utf8Length } from '../src/ai/estimate.ts';
import { tokenUsageOf } from '../src/ai/usage.ts';
import { catalogProvider } from '../src/core/pricing/genai-catalog.ts';

describe('the token estimate', () => {
  it('counts UTF-8 bytes at two a token, in every script, without encoding', () => {
    for (const text of ['hello', 'héllo wörld', '日本語のテキスト', 'emoji 👍🏽🇫🇷', 'नमस्ते', '']) {
      expect(utf8Length(text)).toBe(Buffer.byteLength(text));
      expect(textTokens(text)).toBe(Math.ceil(Buffer.byteLength(text) / BYTES_PER_TOKEN));
    }
  });

  it('holds at least what OpenAI\'s o200k counts for prose and code (2 bytes a token against 3–4.6 measured)', () => {
    // gpt-tokenizer 4.0's o200k counts of these, measured once: the project keeps no tokenizer.
    const measured: [string, number][] = [
      ['The quick brown fox jumps over the lazy dog.', 10],
      ['function add(a, b) {\n  return a + b;\n}\n', 14],
      ['Биллинг для приложений искусственного интеллекта.', 12],
    ];
    for (const [text, tokens] of measured) expect(textTokens(text)).toBeGreaterThanOrEqual(tokens);
  });

  it('adds each message, the prompt, tools with their schemas, files and the response format', () => {
    const prompt: LanguageModelV3Prompt = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'What is in this image?' }, { type: 'file', mediaType: 'image/png', data: new Uint8Array(10_000) }] },
      { role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'c1', toolName: 'look', input: { zoom: 2 } }] },
      { role: 'tool', content: [{ type: 'tool-result', toolCallId: 'c1', toolName: 'look', output: { type: 'json', value: { seen: 'a cat' } } }] },
      { role: 'user', content: [{ type: 'file', mediaType: 'application/pdf', data: new URL('https://example.com/a.pdf') }, { type: 'file', mediaType: 'text/plain', data: 'aGVsbG8gd29ybGQ=' }] },
    ];
    const schema = { type: 'object', properties: { zoom: { type: 'number' } } } as const;
    const tokens = promptTokens({ prompt, tools: [{ type: 'function', name: 'look', description: 'Look closer', inputSchema: schema }] });
    const expected =
      PROMPT_TOKENS + 5 * MESSAGE_TOKENS +
      textTokens('Be brief.') +
      textTokens('What is in this image?') + IMAGE_TOKENS +
      textTokens('look') + textTokens('{"zoom":2}') +
      textTokens('look') + textTokens('{"seen":"a cat"}') +
      FILE_TOKENS + Math.ceil(12 / BYTES_PER_TOKEN) + // a PDF by URL; 12 bytes of base64-encoded text
      TOOLS_TOKENS + textTokens('look') + textTokens('Look closer') + textTokens(JSON.stringify(schema));
    expect(tokens).toBe(expected);
    expect(promptTokens({ prompt: [], responseFormat: { type: 'json', schema } })).toBe(PROMPT_TOKENS + textTokens(JSON.stringify(schema)));
  });

  it('names the catalog\'s provider from the AI SDK\'s, or none when the catalog does not know it', () => {
    expect(['openai.chat', 'openai.responses', 'anthropic.messages', 'google.generative-ai', 'amazon-bedrock', 'mock-provider'].map(catalogProvider))
      .toEqual(['openai', 'openai', 'anthropic', 'google', 'aws', undefined]);
  });
});

describe("a provider's usage, mapped", () => {
  const fallback = { inputTokens: 11, outputTokens: 22 };

  it('maps input no-cache, cache read and cache write, and output text and reasoning, exactly', () => {
    const mapped = tokenUsageOf(
      { inputTokens: { total: 1_000, noCache: 200, cacheRead: 700, cacheWrite: 100 }, outputTokens: { total: 300, text: 100, reasoning: 200 } },
      fallback,
    );
    expect(mapped).toEqual({
      usage: { inputTokens: 1_000, outputTokens: 300, cacheReadTokens: 700, cacheWriteTokens: 100, reasoningTokens: 200 }, estimated: false,
    });
  });

  it('leaves parts not reported undefined, never 0; totals come from their parts when missing', () => {
    expect(tokenUsageOf({ inputTokens: { total: 50, noCache: undefined, cacheRead: undefined, cacheWrite: undefined }, outputTokens: { total: 5, text: undefined, reasoning: undefined } }, fallback))
      .toEqual({ usage: { inputTokens: 50, outputTokens: 5 }, estimated: false });
    expect(tokenUsageOf({ inputTokens: { total: undefined, noCache: 40, cacheRead: 10, cacheWrite: undefined }, outputTokens: { total: undefined, text: 3, reasoning: 2 } }, fallback))
      .toEqual({ usage: { inputTokens: 50, outputTokens: 5, cacheReadTokens: 10, reasoningTokens: 2 }, estimated: false });
  });

  it('raises a total below its parts, and falls back to the estimate for what was not reported at all', () => {
    expect(tokenUsageOf({ inputTokens: { total: 5, noCache: 5, cacheRead: 10, cacheWrite: undefined }, outputTokens: { total: undefined, text: undefined, reasoning: undefined } }, fallback))
      .toEqual({ usage: { inputTokens: 15, outputTokens: 22, cacheReadTokens: 10 }, estimated: true });
    expect(tokenUsageOf(undefined, fallback)).toEqual({ usage: { inputTokens: 11, outputTokens: 22 }, estimated: true });
  });
});
