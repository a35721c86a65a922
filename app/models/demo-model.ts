/**
 * The built-in demo model: a real LanguageModelV3 that needs no key and no network. It answers
 * under a real model id (so the price book prices it like the real one), streams its answer
 * word by word with a small delay (so a stream can be watched, and stopped half way), and
 * reports usage as a provider does: input tokens from the prompt, output tokens from what it
 * streamed. It keeps to maxOutputTokens (finishing with "length") and stops at an abort.
 */
import type { LanguageModelV3, LanguageModelV3CallOptions, LanguageModelV3StreamPart, LanguageModelV3Usage } from '@ai-sdk/provider';
import { demoAnswer, promptTokens, textTokens } from './demo-text.ts';

export interface DemoModelOptions {
  /** A model id the price book knows, e.g. "gpt-4o-mini". */
  modelId: string;
  /** The provider's name as the AI SDK's providers give it ("openai.chat", "anthropic.messages"): the price book reads its first part. */
  provider: string;
  /** The pause before each word; a function is asked before each word (a test slows a stream only while it watches it). */
  wordDelayMs?: number | (() => number);
}

export function demoModel({ modelId, provider, wordDelayMs = 25 }: DemoModelOptions): LanguageModelV3 {
  /** The answer's words, each with the space before it, cut where the output would pass maxOutputTokens. */
  function answer(options: LanguageModelV3CallOptions) {
    const words = demoAnswer(options.prompt).split(' ').map((word, i) => (i === 0 ? word : ` ${word}`));
    const max = options.maxOutputTokens ?? Infinity;
    const kept: string[] = [];
    for (const word of words) {
      if (textTokens([...kept, word].join('')) > max) return { words: kept, finishReason: 'length' as const };
      kept.push(word);
    }
    return { words: kept, finishReason: 'stop' as const };
  }

  const usageOf = (options: LanguageModelV3CallOptions, text: string): LanguageModelV3Usage => {
    const input = promptTokens(options.prompt);
    const output = textTokens(text);
    return { inputTokens: { total: input, noCache: input, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: output, text: output, reasoning: 0 } };
  };

  return {
    specificationVersion: 'v3',
    provider,
    modelId,
    supportedUrls: {},

    async doGenerate(options) {
      const { words, finishReason } = answer(options);
      const text = words.join('');
      return {
        content: [{ type: 'text', text }],
        finishReason: { unified: finishReason, raw: finishReason },
        usage: usageOf(options, text),
        warnings: [],
        response: { id: responseId(), modelId, timestamp: new Date() },
      };
    },

    async doStream(options) {
      const { words, finishReason } = answer(options);
      const signal = options.abortSignal;
      let next = 0;
      let streamed = '';
      let timer: ReturnType<typeof setTimeout> | undefined;
      const pause = () => new Promise<void>((resolve) => { timer = setTimeout(resolve, typeof wordDelayMs === 'number' ? wordDelayMs : wordDelayMs()); });
      const stream = new ReadableStream<LanguageModelV3StreamPart>({
        start(controller) {
          controller.enqueue({ type: 'stream-start', warnings: [] });
          controller.enqueue({ type: 'response-metadata', id: responseId(), modelId, timestamp: new Date() });
          controller.enqueue({ type: 'text-start', id: 'text' });
        },
        async pull(controller) {
          await pause();
          // A provider stops sending when its call is aborted; the caller's stream says so.
          if (signal?.aborted) return controller.error(signal.reason);
          const word = words[next++];
          if (word !== undefined) {
            streamed += word;
            return controller.enqueue({ type: 'text-delta', id: 'text', delta: word });
          }
          controller.enqueue({ type: 'text-end', id: 'text' });
          controller.enqueue({ type: 'finish', finishReason: { unified: finishReason, raw: finishReason }, usage: usageOf(options, streamed) });
          controller.close();
        },
        cancel() {
          clearTimeout(timer);
        },
      });
      return { stream };
    },
  };
}

const responseId = () => `demo-${crypto.randomUUID()}`;
